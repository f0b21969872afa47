import AdmZip from 'adm-zip';
import { parse as parseCsv } from 'csv-parse/sync';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Response } from 'supertest';
import { FakeOpenAiServer } from '../support/fake-openai-server.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const API = '/api/v1/chat';
const CHINESE = '中文：托盘坏了，请送到三号仓库。';
const ARABIC = 'المستودع ممتلئ';
const CYRILLIC = 'Русский: склад переполнен.';
const FORMULA = '=SUM(A1:A3), "quoted", and a comma';

function binary(res: Response, done: (error: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

async function pdfText(bytes: Buffer): Promise<string> {
  const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const document = await pdfjs.getDocument({ data: new Uint8Array(bytes), isEvalSupported: false, verbosity: 0 }).promise;
  const pages: string[] = [];
  for (let number = 1; number <= document.numPages; number += 1) {
    const content = await (await document.getPage(number)).getTextContent();
    pages.push(content.items.map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : '')).join(''));
  }
  await document.destroy();
  return pages.join('\n');
}

interface ExportedMessage {
  id: string;
  seq: number;
  type: string;
  content: string;
  attachments: { id: string; originalName: string; mimeType: string; fileSize: number }[];
}

describe('Export', () => {
  const llm = new FakeOpenAiServer();
  let t: TestApp;
  let directory: string;
  let main: string;
  let second: string;
  let attachmentId: string;

  const as = (user: string, roles?: string[]) => t.auth(user, roles);
  async function say(user: string, conversationId: string, content: string, reply?: string): Promise<string> {
    if (reply) llm.reply({ chunks: [reply] });
    const sent = await t
      .http()
      .post(`${API}/conversations/${conversationId}/messages`)
      .set(as(user))
      .send({ content, reply: reply !== undefined })
      .expect(201);
    return sent.body.userMessage.id;
  }

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wms-export-'));
    t = await startTestApp({ LLM_BASE_URL: await llm.start(), ATTACHMENTS_DIR: directory, CHAT_RATE_LIMIT_PER_MINUTE: '10000' });
    await t
      .http()
      .post(`${API}/agents`)
      .set(as('root', ['admin']))
      .send({ key: 'echo', name: 'Echo', allowedRoles: ['warehouse_operator'], systemPrompt: 'x', provider: 'openai-compatible' })
      .expect(201);
    main = (
      await t.http().post(`${API}/conversations`).set(as('olga')).send({ title: 'Inventory 仓库 Склад / Q4', agentKey: 'echo' }).expect(201)
    ).body.id;
    const first = await say('olga', main, FORMULA, 'Put it in the red tote.');
    await say('olga', main, `${CHINESE} ${ARABIC}. ${CYRILLIC}`);
    await say('olga', main, '-10 pallets @dock +2 cartons');
    const upload = await t
      .http()
      .post(`${API}/messages/${first}/attachments`)
      .set(as('olga'))
      .attach('file', Buffer.from('count sheet'), 'count-sheet.txt')
      .expect(201);
    attachmentId = upload.body.items[0].id;
    second = (await t.http().post(`${API}/conversations`).set(as('olga')).send({ title: 'Second' }).expect(201)).body.id;
    await say('olga', second, 'Only message of the second conversation');
    const other = (await t.http().post(`${API}/conversations`).set(as('igor')).send({ title: 'Igor private' }).expect(201)).body.id;
    await say('igor', other, 'Igor secret plan');
  });
  afterAll(async () => {
    await Promise.all([t.close(), llm.stop()]);
    await rm(directory, { recursive: true, force: true });
  });

  const download = (path: string, user = 'olga') => t.http().get(`${API}${path}`).set(as(user)).buffer(true).parse(binary);

  it('exports a conversation as versioned JSON that round-trips to the stored data', async () => {
    const response = await download(`/conversations/${main}/export?format=json`).expect(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.headers['content-disposition']).toBe(
      `attachment; filename="inventory-__-_____-q4-${main}.json"; filename*=UTF-8''${encodeURIComponent(`inventory-仓库-склад-q4-${main}.json`)}`,
    );
    const body = JSON.parse((response.body as Buffer).toString('utf8'));
    expect(body).toMatchObject({ schema: 'wms-chat-export', version: 1, conversation: { id: main, title: 'Inventory 仓库 Склад / Q4' } });
    const stored = await t.db
      .collection('chat_messages')
      .find({ userId: 'olga', conversationId: { $exists: true } })
      .sort({ seq: 1 })
      .toArray();
    const inMain = stored.filter((doc) => doc.conversationId.toHexString() === main);
    expect(body.messages.map((m: ExportedMessage) => [m.id, m.seq, m.type, m.content])).toEqual(
      inMain.map((doc) => [doc._id.toHexString(), doc.seq, doc.type, doc.content]),
    );
    expect(body.messages[0].attachments).toEqual([
      expect.objectContaining({ id: attachmentId, originalName: 'count-sheet.txt', mimeType: 'text/plain', fileSize: 11 }),
    ]);
    expect(body.messages[0].attachments[0]).not.toHaveProperty('extractedText');
    expect(body.messages[1].attachments).toEqual([]);
  });

  it('exports CSV that a CSV parser reads back, with a BOM and formula injection neutralised', async () => {
    const response = await download(`/conversations/${main}/export?format=csv`).expect(200);
    const bytes = response.body as Buffer;
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.toString('utf8')).toContain('\r\n');
    const rows: Record<string, string>[] = parseCsv(bytes, { bom: true, columns: true });
    expect(rows.map((row) => row.type)).toEqual(['user', 'assistant', 'user', 'user']);
    expect(rows[0]).toMatchObject({
      conversation_id: main,
      conversation_title: 'Inventory 仓库 Склад / Q4',
      content: `'${FORMULA}`,
      attachments: 'count-sheet.txt',
    });
    expect(rows[1]).toMatchObject({ content: 'Put it in the red tote.', agent: 'echo' });
    expect(rows[2]!.content).toBe(`${CHINESE} ${ARABIC}. ${CYRILLIC}`);
    expect(rows[3]!.content).toBe("'-10 pallets @dock +2 cartons");
  });

  it('exports a readable Markdown transcript', async () => {
    const response = await download(`/conversations/${main}/export?format=md`).expect(200);
    expect(response.headers['content-type']).toBe('text/markdown; charset=utf-8');
    const text = (response.body as Buffer).toString('utf8');
    expect(text.startsWith('# Inventory 仓库 Склад / Q4\n')).toBe(true);
    expect(text).toContain('**User** · ');
    expect(text).toContain('**Assistant (echo)** · ');
    expect(text).toContain(CHINESE);
    expect(text).toContain('- count-sheet.txt (text/plain, 11 B)');
  });

  it('exports a PDF whose text, non-Latin scripts included, can be extracted back', async () => {
    const response = await download(`/conversations/${main}/export?format=pdf`).expect(200);
    expect(response.headers['content-type']).toBe('application/pdf');
    const bytes = response.body as Buffer;
    expect(bytes.subarray(0, 5).toString()).toBe('%PDF-');
    // Glyphs the Arabic font substitutes in context have no Unicode of their own: PDFKit maps them to control characters.
    // eslint-disable-next-line no-control-regex -- those are what is removed
    const text = (await pdfText(bytes)).replace(/[\u0000-\u0008]/g, '').replace(/\s+/g, ' ');
    expect(text).toContain('Inventory 仓库 Склад / Q4');
    expect(text).toContain('Put it in the red tote.');
    expect(text).toContain('托盘坏了，请送到三号仓库');
    expect(text).toContain('склад переполнен');
    // Right to left, shaped by the font: each word reads back whole, and the first word is drawn rightmost, so text
    // read left to right lists it last; the full stop and the Cyrillic that follow stay to its right, with their space.
    expect(text).toMatch(/ممتلئ\s?المستودع\. Русский/);
    expect(text).toContain('Attachment: count-sheet.txt (text/plain, 11 B)');
    expect(text).toContain('Assistant (echo)');
  });

  it('exports the whole history as JSON, CSV and a zip with an index', async () => {
    const json = JSON.parse(((await download('/conversations/export').expect(200)).body as Buffer).toString('utf8'));
    expect(json).toMatchObject({ schema: 'wms-chat-export', version: 1, userId: 'olga', range: { from: null, to: null } });
    expect(json.conversations.map((c: { id: string }) => c.id)).toEqual([main, second]);
    expect(json.conversations[1].messages.map((m: ExportedMessage) => m.content)).toEqual(['Only message of the second conversation']);
    expect(JSON.stringify(json)).not.toContain('Igor');

    const csv: Record<string, string>[] = parseCsv((await download('/conversations/export?format=csv').expect(200)).body as Buffer, {
      bom: true,
      columns: true,
    });
    expect(csv).toHaveLength(5);
    expect(new Set(csv.map((row) => row.conversation_id))).toEqual(new Set([main, second]));

    const zipResponse = await download('/conversations/export?format=zip').expect(200);
    expect(zipResponse.headers['content-type']).toBe('application/zip');
    const zip = new AdmZip(zipResponse.body as Buffer);
    const index = JSON.parse(zip.readAsText('index.json'));
    expect(index.conversations.map((c: { id: string }) => c.id)).toEqual([main, second]);
    for (const entry of index.conversations as { id: string; file: string; messages: number }[]) {
      const file = JSON.parse(zip.readAsText(entry.file));
      expect(file.conversation.id).toBe(entry.id);
      expect(file.messages).toHaveLength(entry.messages);
    }
    expect(zip.getEntries()).toHaveLength(3);
  });

  it('keeps to the requested time range', async () => {
    const past = JSON.parse(
      ((await download('/conversations/export?to=2020-01-01T00:00:00Z').expect(200)).body as Buffer).toString('utf8'),
    );
    expect(past.conversations).toEqual([]);
    const future = JSON.parse(
      (
        (await download(`/conversations/export?from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`).expect(200))
          .body as Buffer
      ).toString('utf8'),
    );
    expect(future.conversations).toEqual([]);
    await t.http().get(`${API}/conversations/export?from=2026-02-01&to=2026-01-01`).set(as('olga')).expect(400);
  });

  it('answers 404 for another user’s or a deleted conversation, 400 for a bad format', async () => {
    await t.http().get(`${API}/conversations/${main}/export`).set(as('igor')).expect(404);
    const gone = (await t.http().post(`${API}/conversations`).set(as('olga')).send({ title: 'Gone' }).expect(201)).body.id;
    await t.http().delete(`${API}/conversations/${gone}?permanent=true`).set(as('olga')).expect(204);
    await t.http().get(`${API}/conversations/${gone}/export`).set(as('olga')).expect(404);
    const bad = await t.http().get(`${API}/conversations/${main}/export?format=docx`).set(as('olga')).expect(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    await t.http().get(`${API}/conversations/export?format=pdf`).set(as('olga')).expect(400);
    await t.http().get(`${API}/conversations/export?format[$ne]=x`).set(as('olga')).expect(400);
  });

  it('streams every message changed since a point in time as NDJSON for admins, resumable by cursor', async () => {
    await t.http().get(`${API}/admin/export/messages`).set(as('olga')).expect(403);
    // Changes of the last seconds wait for the next sync: make everything so far old enough.
    await t.db.collection('chat_messages').updateMany({}, { $set: { updatedAt: new Date(Date.now() - 60_000) } });
    const total = await t.db.collection('chat_messages').countDocuments({});
    const fresh = await say('olga', second, 'Written just now');

    const lines = async (query: string) => {
      const response = await t
        .http()
        .get(`${API}/admin/export/messages?${query}`)
        .set(as('root', ['admin']))
        .buffer(true)
        .parse(binary)
        .expect(200);
      expect(response.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
      expect(new Date(response.headers['x-export-until'] as string).getTime()).toBeLessThan(Date.now());
      return (response.body as Buffer)
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { id: string; userId: string; updatedAt: string; exportCursor: string });
    };
    const all = await lines('format=ndjson');
    expect(all).toHaveLength(total);
    expect(all.map((line) => line.id)).not.toContain(fresh);
    expect(new Set(all.map((line) => line.userId))).toEqual(new Set(['olga', 'igor']));

    const walked: string[] = [];
    let cursor = '';
    for (;;) {
      const page = await lines(`limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      walked.push(...page.map((line) => line.id));
      if (page.length < 3) break;
      cursor = page.at(-1)!.exportCursor;
    }
    expect(walked).toEqual(all.map((line) => line.id));

    expect(await lines(`updatedSince=${encodeURIComponent(new Date().toISOString())}`)).toEqual([]);
    const invalid = await t
      .http()
      .get(`${API}/admin/export/messages?cursor=nope`)
      .set(as('root', ['admin']))
      .expect(400);
    expect(invalid.body.code).toBe('INVALID_CURSOR');
  });
});

describe('Export turned off', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ENABLE_CHAT_EXPORT: 'false' });
  });
  afterAll(() => t.close());

  it('answers 404 on the export routes and says so in the API docs; the admin sync stays', async () => {
    const id = (await t.http().post(`${API}/conversations`).set(t.auth('u')).send({}).expect(201)).body.id;
    await t.http().get(`${API}/conversations/${id}/export`).set(t.auth('u')).expect(404);
    // Without the export route, /conversations/export is read as /conversations/:id with a bad id.
    await t.http().get(`${API}/conversations/export`).set(t.auth('u')).expect(400);
    const docs = await t.http().get('/api/docs-json').expect(200);
    expect(Object.keys(docs.body.paths).filter((path) => path.includes('/conversations') && path.includes('export'))).toEqual([]);
    expect(docs.body.info.description).toContain('ENABLE_CHAT_EXPORT=false');
    await t
      .http()
      .get(`${API}/admin/export/messages`)
      .set(t.auth('root', ['admin']))
      .expect(200);
  });
});
