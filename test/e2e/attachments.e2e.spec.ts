import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Response } from 'supertest';
import * as fixtures from '../support/fixtures.js';
import { FakeOpenAiServer } from '../support/fake-openai-server.js';
import { connectSocket, recorder } from '../support/socket.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const API = '/api/v1/chat';

/** The fields of an attachment answer the tests read. */
interface AttachmentBody {
  processingStatus: string;
  extractedText?: string;
  metadata: Record<string, unknown>;
  thumbnail?: Record<string, unknown>;
  [field: string]: unknown;
}
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const binary = (response: Response) => response.body as Buffer;

/** supertest option: collect any body as a Buffer. */
function buffer(res: Response, done: (error: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

/** Every file under a directory, recursively (what the local driver has on disk). */
async function filesUnder(directory: string): Promise<string[]> {
  try {
    return (await readdir(directory, { recursive: true, withFileTypes: true }))
      .filter((entry) => entry.isFile())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

describe.each(['local', 'gridfs'] as const)('Attachments API (%s storage)', (driver) => {
  const llm = new FakeOpenAiServer();
  let t: TestApp;
  let small: TestApp;
  let directory: string;
  let smallDirectory: string;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wms-attachments-'));
    smallDirectory = await mkdtemp(join(tmpdir(), 'wms-attachments-small-'));
    const baseUrl = await llm.start();
    [t, small] = await Promise.all([
      startTestApp({ ATTACHMENT_STORAGE: driver, ATTACHMENTS_DIR: directory, LLM_BASE_URL: baseUrl, CHAT_RATE_LIMIT_PER_MINUTE: '10000' }),
      startTestApp({
        ATTACHMENT_STORAGE: driver,
        ATTACHMENTS_DIR: smallDirectory,
        CHAT_MAX_FILE_SIZE_MB: '1',
        CHAT_USER_STORAGE_QUOTA_MB: '2',
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([t.close(), small.close(), llm.stop()]);
    await Promise.all([rm(directory, { recursive: true, force: true }), rm(smallDirectory, { recursive: true, force: true })]);
  });

  /** Stored objects: files on disk (local) or GridFS files (gridfs). */
  async function storedObjects(app: TestApp, dir: string): Promise<string[]> {
    if (driver === 'local') return (await filesUnder(dir)).sort();
    return (await app.db.collection('chat_attachment_files.files').find({}).toArray()).map((file) => String(file.filename)).sort();
  }

  async function userMessage(
    app: TestApp,
    user: string,
    content = 'See the attached file',
  ): Promise<{ conversationId: string; messageId: string }> {
    const conversationId = (await app.http().post(`${API}/conversations`).set(app.auth(user)).send({}).expect(201)).body.id;
    const sent = await app
      .http()
      .post(`${API}/conversations/${conversationId}/messages`)
      .set(app.auth(user))
      .send({ content, reply: false })
      .expect(201);
    return { conversationId, messageId: sent.body.userMessage.id };
  }

  function upload(app: TestApp, user: string, messageId: string, files: [Buffer, string][]) {
    const request = app.http().post(`${API}/messages/${messageId}/attachments`).set(app.auth(user));
    for (const [bytes, name] of files) request.attach('file', bytes, { filename: name, contentType: 'application/octet-stream' });
    return request;
  }

  async function processed(app: TestApp, user: string, id: string): Promise<AttachmentBody> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const response = await app.http().get(`${API}/attachments/${id}?include=text`).set(app.auth(user)).expect(200);
      if (response.body.processingStatus !== 'pending') return response.body;
      if (Date.now() > deadline) throw new Error(`attachment ${id} still pending`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('stores several files from one request, sniffs their types and processes them', async () => {
    const { messageId, conversationId } = await userMessage(t, 'ana');
    const pdf = await fixtures.pdf(['Cycle count for aisle 12: 40 cartons of SKU 7781']);
    const png = await fixtures.png(800, 600);
    const response = await upload(t, 'ana', messageId, [
      [pdf, 'cycle-count.pdf'],
      [png, 'shelf.png'],
    ]).expect(201);
    expect(response.body.items).toHaveLength(2);
    const [doc, image] = response.body.items;
    expect(doc).toMatchObject({
      conversationId,
      messageId,
      fileType: 'document',
      mimeType: 'application/pdf',
      originalName: 'cycle-count.pdf',
      fileSize: pdf.length,
      sha256: sha256(pdf),
      processingStatus: 'pending',
    });
    expect(image).toMatchObject({ fileType: 'image', mimeType: 'image/png', fileSize: png.length });

    const docDone = await processed(t, 'ana', doc.id);
    expect(docDone).toMatchObject({ processingStatus: 'processed', hasExtractedText: true, metadata: { pages: 1 } });
    expect(docDone.extractedText).toContain('Cycle count for aisle 12: 40 cartons of SKU 7781');
    const imageDone = await processed(t, 'ana', image.id);
    expect(imageDone).toMatchObject({ processingStatus: 'processed', metadata: { width: 800, height: 600, format: 'png' } });
    expect(imageDone.thumbnail).toMatchObject({ mimeType: 'image/webp', width: 320, height: 240 });

    const thumbnail = await t
      .http()
      .get(`${API}/attachments/${image.id}/thumbnail`)
      .set(t.auth('ana'))
      .buffer(true)
      .parse(buffer)
      .expect(200);
    expect(thumbnail.headers['content-type']).toBe('image/webp');
    expect((await sharp(binary(thumbnail)).metadata()).width).toBe(320);

    const listed = await t.http().get(`${API}/messages/${messageId}/attachments`).set(t.auth('ana')).expect(200);
    expect(listed.body.items.map((item: { id: string }) => item.id)).toEqual([doc.id, image.id]);
    const history = await t.http().get(`${API}/conversations/${conversationId}/messages`).set(t.auth('ana')).expect(200);
    expect(history.body.items[0].attachmentCount).toBe(2);
  });

  it('serves the bytes with safe headers, ranges and the sniffed type', async () => {
    const { messageId } = await userMessage(t, 'ben');
    const text = Buffer.from('SKU,qty\n7781,40\n9001,12\n');
    const [csv] = (await upload(t, 'ben', messageId, [[text, 'counts.csv']]).expect(201)).body.items;

    const whole = await t.http().get(`${API}/attachments/${csv.id}/content`).set(t.auth('ben')).buffer(true).parse(buffer).expect(200);
    expect(binary(whole).equals(text)).toBe(true);
    expect(whole.headers).toMatchObject({
      'content-type': 'text/csv; charset=utf-8',
      'x-content-type-options': 'nosniff',
      'accept-ranges': 'bytes',
      etag: `"${sha256(text)}"`,
      'content-length': String(text.length),
    });
    expect(whole.headers['content-disposition']).toMatch(/^attachment; filename="counts.csv"/);

    const part = await t
      .http()
      .get(`${API}/attachments/${csv.id}/content`)
      .set(t.auth('ben'))
      .set('Range', 'bytes=8-14')
      .buffer(true)
      .parse(buffer)
      .expect(206);
    expect(binary(part).toString()).toBe('7781,40');
    expect(part.headers['content-range']).toBe(`bytes 8-14/${text.length}`);
    const tail = await t
      .http()
      .get(`${API}/attachments/${csv.id}/content`)
      .set(t.auth('ben'))
      .set('Range', 'bytes=-3')
      .buffer(true)
      .parse(buffer)
      .expect(206);
    expect(binary(tail).toString()).toBe('12\n');
    const outside = await t.http().get(`${API}/attachments/${csv.id}/content`).set(t.auth('ben')).set('Range', 'bytes=500-').expect(416);
    expect(outside.headers['content-range']).toBe(`bytes */${text.length}`);
    expect(outside.body).toMatchObject({ statusCode: 416, code: 'RANGE_NOT_SATISFIABLE' });
    await t
      .http()
      .get(`${API}/attachments/${csv.id}/content`)
      .set(t.auth('ben'))
      .set('If-None-Match', `"${sha256(text)}"`)
      .expect(304);
  });

  it('serves images without their EXIF location, inline', async () => {
    const { messageId } = await userMessage(t, 'cleo');
    const photo = await fixtures.jpegWithLocation();
    expect((await sharp(photo).metadata()).exif).toBeDefined();
    const [jpeg] = (await upload(t, 'cleo', messageId, [[photo, 'dock door.JPG']]).expect(201)).body.items;
    const done = await processed(t, 'cleo', jpeg.id);
    expect(done.metadata).toMatchObject({ metadataStripped: true, ocr: expect.stringMatching(/^(unavailable|none|done|failed)$/) });
    const served = await t.http().get(`${API}/attachments/${jpeg.id}/content`).set(t.auth('cleo')).buffer(true).parse(buffer).expect(200);
    expect(served.headers['content-type']).toBe('image/jpeg');
    expect(served.headers['content-disposition']).toMatch(/^inline;/);
    expect((await sharp(binary(served)).metadata()).exif).toBeUndefined();
    expect(done).toMatchObject({ sha256: sha256(binary(served)), fileSize: binary(served).length });
    // Only the clean copy and the thumbnail are kept.
    expect((await storedObjects(t, directory)).filter((name) => name.includes(jpeg.id))).toEqual(
      [`${jpeg.id}.clean`, `${jpeg.id}.thumbnail`].map((n) => (driver === 'local' ? n : expect.stringContaining(n))),
    );
  });

  it.each([
    ['an executable named .png', () => fixtures.elf(), 'holiday.png'],
    ['HTML named .jpg', () => Buffer.from('<!doctype html><script>alert(document.cookie)</script>'), 'cat.jpg'],
    ['SVG', () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), 'logo.svg'],
    ['a PDF named .docx', () => fixtures.pdf(['x']), 'report.docx'],
  ])('refuses %s with 415 and stores nothing', async (_label, make, name) => {
    const { messageId } = await userMessage(t, 'mallory');
    const before = await storedObjects(t, directory);
    const good = await fixtures.png();
    const response = await upload(t, 'mallory', messageId, [
      [good, 'first.png'],
      [await make(), name],
    ]).expect(415);
    expect(response.body).toMatchObject({ statusCode: 415, error: 'Unsupported Media Type', code: 'UNSUPPORTED_FILE_TYPE' });
    expect(await t.db.collection('chat_attachments').countDocuments({ userId: 'mallory' })).toBe(0);
    expect(await storedObjects(t, directory)).toEqual(before);
  });

  it('cuts off a file over CHAT_MAX_FILE_SIZE_MB with 413 and leaves no partial file', async () => {
    const { messageId } = await userMessage(small, 'hoarder');
    const response = await upload(small, 'hoarder', messageId, [[Buffer.alloc(Math.round(1.5 * 1024 * 1024), 'a'), 'big.txt']]).expect(413);
    expect(response.body).toMatchObject({ code: 'FILE_TOO_LARGE', message: 'Files may be at most 1 MB' });
    expect(await small.db.collection('chat_attachments').countDocuments({})).toBe(0);
    expect(await storedObjects(small, smallDirectory)).toEqual([]);
    if (driver === 'gridfs') expect(await small.db.collection('chat_attachment_files.chunks').countDocuments({})).toBe(0);
  });

  it('answers 413 with the quota once a user’s files would exceed CHAT_USER_STORAGE_QUOTA_MB', async () => {
    const { messageId } = await userMessage(small, 'quota');
    const file = (fill: string) => Buffer.alloc(900 * 1024, fill);
    await upload(small, 'quota', messageId, [[file('a'), 'a.txt']]).expect(201);
    await upload(small, 'quota', messageId, [[file('b'), 'b.txt']]).expect(201);
    const refused = await upload(small, 'quota', messageId, [[file('c'), 'c.txt']]).expect(413);
    expect(refused.body).toMatchObject({ code: 'STORAGE_QUOTA_EXCEEDED', message: expect.stringContaining('quota of 2 MB') });
    expect(await small.db.collection('chat_attachments').countDocuments({ userId: 'quota' })).toBe(2);
    // Another user has a quota of their own.
    const other = await userMessage(small, 'quota-neighbour');
    await upload(small, 'quota-neighbour', other.messageId, [[file('d'), 'd.txt']]).expect(201);
  });

  it('takes concurrent uploads to one message', async () => {
    const { messageId } = await userMessage(t, 'busy');
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, i) => upload(t, 'busy', messageId, [[Buffer.from(`note ${i}\n`.repeat(1000)), `note-${i}.txt`]])),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(6).fill(201));
    const listed = await t.http().get(`${API}/messages/${messageId}/attachments`).set(t.auth('busy')).expect(200);
    expect(listed.body.items).toHaveLength(6);
    const message = await t.db.collection('chat_messages').findOne({ userId: 'busy', type: 'user' });
    expect(message?.attachmentCount).toBe(6);
  });

  it('sanitises file names and keeps unicode ones', async () => {
    const { messageId } = await userMessage(t, 'names');
    const items = (
      await upload(t, 'names', messageId, [
        [Buffer.from('a'), 'Übersicht 仓库 ✓.txt'],
        [Buffer.from('b'), '../../etc/passwd.txt'],
        [Buffer.from('c'), 'CON.txt'],
        [Buffer.from('d'), 'evil\u202Etxt.md'],
      ]).expect(201)
    ).body.items;
    expect(items.map((item: { originalName: string }) => item.originalName)).toEqual([
      'Übersicht 仓库 ✓.txt',
      'passwd.txt',
      '_CON.txt',
      'eviltxt.md',
    ]);
    const served = await t.http().get(`${API}/attachments/${items[0].id}/content`).set(t.auth('names')).expect(200);
    expect(served.headers['content-disposition']).toBe(
      `attachment; filename="Ubersicht __ _.txt"; filename*=UTF-8''${encodeURIComponent('Übersicht 仓库 ✓.txt')}`,
    );
  });

  it('stores an empty text file as failed with a reason', async () => {
    const { messageId } = await userMessage(t, 'empty');
    const [file] = (await upload(t, 'empty', messageId, [[Buffer.alloc(0), 'nothing.txt']]).expect(201)).body.items;
    const done = await processed(t, 'empty', file.id);
    expect(done).toMatchObject({ processingStatus: 'failed', processingError: { code: 'EMPTY_FILE' } });
  });

  it('stores a truncated image and a corrupted PDF as failed with a reason', async () => {
    const { messageId } = await userMessage(t, 'broken');
    const photo = await fixtures.jpegWithLocation(800, 600);
    const pdf = await fixtures.pdf(['Pick list']);
    const [image, document] = (
      await upload(t, 'broken', messageId, [
        [photo.subarray(0, Math.floor(photo.length / 2)), 'half.jpg'],
        [Buffer.concat([pdf.subarray(0, 300), Buffer.alloc(200, 0x41)]), 'mangled.pdf'],
      ]).expect(201)
    ).body.items;
    for (const id of [image.id, document.id]) {
      const done = await processed(t, 'broken', id);
      expect(done).toMatchObject({ processingStatus: 'failed', processingError: { code: 'CORRUPT_FILE', message: expect.any(String) } });
    }
    await t.http().get(`${API}/attachments/${document.id}/content`).set(t.auth('broken')).expect(200);
    await t.http().get(`${API}/attachments/${image.id}/thumbnail`).set(t.auth('broken')).expect(404);
    // Its EXIF (with a location) could not be removed, so the broken image is not served.
    const refused = await t.http().get(`${API}/attachments/${image.id}/content`).set(t.auth('broken')).expect(409);
    expect(refused.body.code).toBe('ATTACHMENT_UNAVAILABLE');
  });

  it('refuses malformed requests with a clear 4xx', async () => {
    const { messageId } = await userMessage(t, 'sloppy');
    const url = `${API}/messages/${messageId}/attachments`;
    expect((await t.http().post(url).set(t.auth('sloppy')).send({ file: 'x' }).expect(415)).body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect((await t.http().post(url).set(t.auth('sloppy')).field('note', 'hi').expect(400)).body.code).toBe('VALIDATION_FAILED');
    expect(
      (await t.http().post(url).set(t.auth('sloppy')).attach('document', Buffer.from('x'), 'x.txt').expect(400)).body.message,
    ).toContain('Unexpected form field "document"');
    await t
      .http()
      .post(`${API}/messages/not-an-id/attachments`)
      .set(t.auth('sloppy'))
      .attach('file', Buffer.from('x'), 'x.txt')
      .expect(400);
    expect(
      (
        await t
          .http()
          .post(url)
          .set(t.auth('sloppy'))
          .set('Content-Type', 'multipart/form-data; boundary=zzz')
          .send('--zzz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nunterminated')
          .expect(400)
      ).body.code,
    ).toBe('MALFORMED_MULTIPART');
  });

  it('only attaches to the caller’s own user messages and hides other users’ files', async () => {
    const { messageId, conversationId } = await userMessage(t, 'owner');
    const [file] = (await upload(t, 'owner', messageId, [[Buffer.from('secret plan'), 'plan.txt']]).expect(201)).body.items;
    await upload(t, 'intruder', messageId, [[Buffer.from('x'), 'x.txt']]).expect(404);
    for (const path of [
      `attachments/${file.id}`,
      `attachments/${file.id}/content`,
      `attachments/${file.id}/thumbnail`,
      `messages/${messageId}/attachments`,
    ]) {
      const response = await t.http().get(`${API}/${path}`).set(t.auth('intruder')).expect(404);
      expect(response.body.message).not.toContain('plan');
    }
    await t.http().delete(`${API}/attachments/${file.id}`).set(t.auth('intruder')).expect(404);

    const reply = await t
      .http()
      .post(`${API}/conversations/${conversationId}/messages`)
      .set(t.auth('owner'))
      .send({ content: 'Where do returns go?' })
      .expect(201);
    const refused = await upload(t, 'owner', reply.body.assistantMessage.id, [[Buffer.from('x'), 'x.txt']]).expect(409);
    expect(refused.body.code).toBe('NOT_A_USER_MESSAGE');
  });

  it('removes files with the attachment, the message, and a conversation deleted for good', async () => {
    const first = await userMessage(t, 'tidy');
    const [a, b] = (
      await upload(t, 'tidy', first.messageId, [
        [await fixtures.png(), 'a.png'],
        [Buffer.from('b'), 'b.txt'],
      ]).expect(201)
    ).body.items;
    await processed(t, 'tidy', a.id);
    await t.http().delete(`${API}/attachments/${a.id}`).set(t.auth('tidy')).expect(204);
    await t.http().get(`${API}/attachments/${a.id}/content`).set(t.auth('tidy')).expect(404);
    expect((await storedObjects(t, directory)).filter((name) => name.includes(a.id))).toEqual([]);

    await t.http().delete(`${API}/conversations/${first.conversationId}/messages/${first.messageId}`).set(t.auth('tidy')).expect(204);
    await t.http().get(`${API}/attachments/${b.id}`).set(t.auth('tidy')).expect(404);
    expect((await storedObjects(t, directory)).filter((name) => name.includes(b.id))).toEqual([]);
    const conversation = await t.http().get(`${API}/conversations/${first.conversationId}`).set(t.auth('tidy')).expect(200);
    expect(conversation.body.messageCount).toBe(0);

    const second = await userMessage(t, 'tidy');
    const [c] = (await upload(t, 'tidy', second.messageId, [[Buffer.from('c'), 'c.txt']]).expect(201)).body.items;
    await t.http().delete(`${API}/conversations/${second.conversationId}?permanent=true`).set(t.auth('tidy')).expect(204);
    expect((await storedObjects(t, directory)).filter((name) => name.includes(c.id))).toEqual([]);
    await t.http().get(`${API}/attachments/${c.id}`).set(t.auth('tidy')).expect(404);
  });

  it('feeds extracted text to the agent’s prompt for the conversation', async () => {
    await t
      .http()
      .post(`${API}/agents`)
      .set(t.auth('root', ['admin']))
      .send({
        key: `reader-${driver}`,
        name: 'Reader',
        allowedRoles: ['warehouse_operator'],
        systemPrompt: 'Read the files.',
        provider: 'openai-compatible',
      })
      .expect(201);
    llm.reply({ chunks: ['Bay 14.'] });
    const conversationId = (
      await t
        .http()
        .post(`${API}/conversations`)
        .set(t.auth('dana'))
        .send({ agentKey: `reader-${driver}` })
        .expect(201)
    ).body.id;
    const sent = await t
      .http()
      .post(`${API}/conversations/${conversationId}/messages`)
      .set(t.auth('dana'))
      .send({ content: 'Here is the plan', reply: false })
      .expect(201);
    const [file] = (
      await upload(t, 'dana', sent.body.userMessage.id, [[fixtures.docx(['Overflow pallets go to bay 14.']), 'plan.docx']]).expect(201)
    ).body.items;
    await processed(t, 'dana', file.id);
    llm.requests.length = 0;
    await t
      .http()
      .post(`${API}/conversations/${conversationId}/messages`)
      .set(t.auth('dana'))
      .send({ content: 'Where do overflow pallets go?' })
      .expect(201);
    const system = llm.requests[0]!.body.messages[0]!;
    expect(system.role).toBe('system');
    expect(system.content).toContain('Attached file "plan.docx"');
    expect(system.content).toContain('Overflow pallets go to bay 14.');
  });

  it('tells sockets following the conversation about new and processed files', async () => {
    const { messageId, conversationId } = await userMessage(t, 'eve');
    const socket = await connectSocket(await t.port(), `/chat/${conversationId}`, { token: t.token('eve') });
    try {
      const events = recorder(socket);
      const [file] = (await upload(t, 'eve', messageId, [[fixtures.wav(0.5), 'beep.wav']]).expect(201)).body.items;
      await events.waitFor((seen) => seen.some(([name]) => name === 'attachment:processed'));
      const names = events.events.map(([name]) => name).filter((name) => name.startsWith('attachment:'));
      expect(names).toEqual(['attachment:created', 'attachment:processed']);
      const processedEvent = events.events.find(([name]) => name === 'attachment:processed')![1] as Record<string, unknown>;
      expect(processedEvent).toMatchObject({
        conversationId,
        messageId,
        attachment: { id: file.id, processingStatus: 'processed', metadata: { durationSeconds: 0.5 } },
      });

      await upload(t, 'eve', messageId, [[Buffer.alloc(0), 'empty.txt']]).expect(201);
      await events.waitFor((seen) => seen.some(([name]) => name === 'attachment:failed'));
    } finally {
      socket.close();
    }
  });

  it('picks up pending work at boot (after a crash)', async () => {
    const { messageId } = await userMessage(t, 'crash');
    const [file] = (await upload(t, 'crash', messageId, [[Buffer.from('Dock 3 is closed on Sundays'), 'notice.txt']]).expect(201)).body
      .items;
    await processed(t, 'crash', file.id);
    const { ObjectId } = (await import('mongoose')).default.mongo;
    // As a crashed instance leaves it: pending, claimed, the claim run out.
    await t.db
      .collection('chat_attachments')
      .updateOne(
        { _id: new ObjectId(file.id) },
        { $set: { processingStatus: 'pending', extractedText: null, claimedUntil: new Date(Date.now() - 1000) } },
      );
    const restarted = await startTestApp({ ATTACHMENT_STORAGE: driver, ATTACHMENTS_DIR: directory }, { dbName: t.db.databaseName });
    try {
      const done = await processed(restarted, 'crash', file.id);
      expect(done).toMatchObject({ processingStatus: 'processed', extractedText: 'Dock 3 is closed on Sundays' });
    } finally {
      await restarted.app.close();
    }
  });
});

describe('Attachments turned off', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ CHAT_ENABLE_FILE_UPLOADS: 'false' });
  });
  afterAll(() => t.close());

  it('answers 404 on every attachment route and says so in the API docs', async () => {
    const id = '665f1c2e9b1d8a0012345678';
    await t.http().post(`${API}/messages/${id}/attachments`).set(t.auth('u')).attach('file', Buffer.from('x'), 'x.txt').expect(404);
    await t.http().get(`${API}/attachments/${id}/content`).set(t.auth('u')).expect(404);
    const docs = await t.http().get('/api/docs-json').expect(200);
    expect(Object.keys(docs.body.paths).filter((path) => path.includes('attachments'))).toEqual([]);
    expect(docs.body.info.description).toContain('CHAT_ENABLE_FILE_UPLOADS=false');
  });
});
