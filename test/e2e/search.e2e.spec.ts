import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeOpenAiServer } from '../support/fake-openai-server.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const API = '/api/v1/chat';

interface Snippet {
  source: string;
  messageId: string | null;
  attachmentName: string | null;
  messageType: string | null;
  text: string;
  highlights: { start: number; end: number }[];
}
interface MessageHit {
  conversationId: string;
  conversationTitle: string | null;
  messageId: string;
  snippet: Snippet;
}
interface ConversationHit {
  conversation: { id: string; title: string | null };
  score: number;
  matches: number;
  snippets: Snippet[];
}

describe('Search', () => {
  const llm = new FakeOpenAiServer();
  let t: TestApp;
  let directory: string;
  const ids: Record<string, string> = {};

  async function conversation(user: string, body: Record<string, unknown>): Promise<string> {
    return (
      await t
        .http()
        .post(`${API}/conversations`)
        .set(t.auth(user, ['warehouse_operator', 'supervisor']))
        .send(body)
        .expect(201)
    ).body.id;
  }
  async function say(user: string, conversationId: string, content: string, reply?: string): Promise<string> {
    if (reply) llm.reply({ chunks: [reply] });
    const response = await t
      .http()
      .post(`${API}/conversations/${conversationId}/messages`)
      .set(t.auth(user, ['warehouse_operator', 'supervisor']))
      .send({ content, reply: reply !== undefined })
      .expect(201);
    return response.body.userMessage.id;
  }
  const messages = (user: string, query: Record<string, string | number>) =>
    t
      .http()
      .get(`${API}/messages/search`)
      .query(query)
      .set(t.auth(user, ['warehouse_operator', 'supervisor']));
  const conversations = (user: string, query: Record<string, string | number>) =>
    t
      .http()
      .get(`${API}/conversations/search`)
      .query(query)
      .set(t.auth(user, ['warehouse_operator', 'supervisor']));
  async function messageHits(user: string, query: Record<string, string | number>): Promise<MessageHit[]> {
    return (await messages(user, query).expect(200)).body.items;
  }
  const highlighted = (snippet: Snippet) => snippet.highlights.map((h) => snippet.text.slice(h.start, h.end));

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wms-search-'));
    t = await startTestApp({ LLM_BASE_URL: await llm.start(), ATTACHMENTS_DIR: directory, CHAT_RATE_LIMIT_PER_MINUTE: '10000' });
    await t
      .http()
      .post(`${API}/agents`)
      .set(t.auth('root', ['admin']))
      .send({
        key: 'echo',
        name: 'Echo',
        allowedRoles: ['warehouse_operator', 'supervisor'],
        systemPrompt: 'x',
        provider: 'openai-compatible',
      })
      .expect(201);

    ids.totes = await conversation('sam', { title: 'Damaged totes at dock 4', agentKey: 'echo' });
    ids.pickedMessage = await say(
      'sam',
      ids.totes,
      'I picked the damaged tote from aisle 12',
      'Put it in the red tote on the quarantine shelf.',
    );
    ids.picking = await conversation('sam', { title: 'Wave 7', agentKey: 'echo' });
    ids.pickingMessage = await say('sam', ids.picking, 'Where do picking carts go after wave 7?');
    await say('sam', ids.picking, 'Café Ärger über die Paletten');
    await say('sam', ids.picking, '仓库里的托盘坏了');
    await say('sam', ids.picking, 'Склад поддонов переполнен');
    await say('sam', ids.picking, 'المستودع ممتلئ');
    ids.supervisor = await conversation('sam', { title: 'Shift handover', role: 'supervisor' });
    ids.handover = await say('sam', ids.supervisor, 'Forklift 3 needs a new battery, picking paused');
    await t.http().patch(`${API}/conversations/${ids.supervisor}`).set(t.auth('sam')).send({ status: 'archived' }).expect(200);
    ids.files = await conversation('sam', { title: 'Procedures' });
    ids.filesMessage = await say('sam', ids.files, 'See the attached procedure');
    const upload = await t
      .http()
      .post(`${API}/messages/${ids.filesMessage}/attachments`)
      .set(t.auth('sam'))
      .attach('file', Buffer.from('Charging procedure: park the forklift, open the battery hood, connect the charger.'), 'charging.txt')
      .expect(201);
    ids.attachment = upload.body.items[0].id;
    for (let i = 0; i < 100; i += 1) {
      const state = await t.http().get(`${API}/attachments/${ids.attachment}`).set(t.auth('sam'));
      if (state.body.processingStatus !== 'pending') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    ids.gone = await conversation('sam', { title: 'Forklift gone' });
    await say('sam', ids.gone, 'Forklift 9 was stolen');
    await t.http().delete(`${API}/conversations/${ids.gone}?permanent=true`).set(t.auth('sam')).expect(204);

    ids.eve = await conversation('eve', { title: 'Damaged totes too' });
    await say('eve', ids.eve, 'Eve picked a damaged tote and a forklift battery');
  });
  afterAll(async () => {
    await Promise.all([t.close(), llm.stop()]);
    await rm(directory, { recursive: true, force: true });
  });

  it('matches words by their stem, case- and diacritic-insensitively', async () => {
    const hits = await messageHits('sam', { q: 'PICK' });
    expect(hits.map((hit) => hit.snippet.text).sort()).toEqual([
      'Forklift 3 needs a new battery, picking paused',
      'I picked the damaged tote from aisle 12',
      'Where do picking carts go after wave 7?',
    ]);
    const hit = hits.find((h) => h.messageId === ids.pickedMessage)!;
    expect(highlighted(hit.snippet)).toEqual(['picked']);
    expect(hit).toMatchObject({
      conversationId: ids.totes,
      conversationTitle: 'Damaged totes at dock 4',
      snippet: { source: 'message', messageType: 'user' },
    });
    expect((await messageHits('sam', { q: 'cafe ARGER uber' })).map((h) => h.snippet.text)).toEqual(['Café Ärger über die Paletten']);
  });

  it('ANDs words, matches exact phrases, excludes words and expands prefixes', async () => {
    expect((await messageHits('sam', { q: 'damaged tote' })).map((h) => h.messageId)).toEqual([ids.pickedMessage]);
    const phrase = await messageHits('sam', { q: '"red tote"' });
    expect(phrase).toHaveLength(1);
    expect(phrase[0]!.snippet).toMatchObject({ text: 'Put it in the red tote on the quarantine shelf.', messageType: 'assistant' });
    expect(await messageHits('sam', { q: '"tote red"' })).toEqual([]);
    expect((await messageHits('sam', { q: 'tote -damaged' })).map((h) => h.snippet.text)).toEqual([
      'Put it in the red tote on the quarantine shelf.',
    ]);
    expect((await messageHits('sam', { q: 'tote -"red tote"' })).map((h) => h.messageId)).toEqual([ids.pickedMessage]);
    const prefix = await messageHits('sam', { q: 'quarant*' });
    expect(prefix.map((h) => h.snippet.text)).toEqual(['Put it in the red tote on the quarantine shelf.']);
    expect(highlighted(prefix[0]!.snippet)).toEqual(['quarantine']);
  });

  it('finds Chinese, Cyrillic and Arabic text', async () => {
    expect((await messageHits('sam', { q: '托盘' })).map((h) => h.snippet.text)).toEqual(['仓库里的托盘坏了']);
    expect(highlighted((await messageHits('sam', { q: '托盘' }))[0]!.snippet)).toEqual(['托盘']);
    expect(await messageHits('sam', { q: '托车' })).toEqual([]);
    expect((await messageHits('sam', { q: 'склад' })).map((h) => h.snippet.text)).toEqual(['Склад поддонов переполнен']);
    expect((await messageHits('sam', { q: 'المستودع' })).map((h) => h.snippet.text)).toEqual(['المستودع ممتلئ']);
  });

  it('searches the text and names of attached files', async () => {
    const hits = await messageHits('sam', { q: 'charger' });
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ messageId: ids.filesMessage, snippet: { source: 'attachment', attachmentName: 'charging.txt' } });
    expect(highlighted(hits[0]!.snippet)).toEqual(['charger']);
    expect((await messageHits('sam', { q: 'forklift', hasAttachments: 'true' })).map((h) => h.snippet.source)).toEqual(['attachment']);
  });

  it('filters by type, attachments, dates, role and status', async () => {
    expect((await messageHits('sam', { q: 'tote', type: 'assistant' })).map((h) => h.snippet.messageType)).toEqual(['assistant']);
    expect((await messageHits('sam', { q: 'tote', type: 'user' })).map((h) => h.messageId)).toEqual([ids.pickedMessage]);
    expect(await messageHits('sam', { q: 'tote', hasAttachments: 'true' })).toEqual([]);
    expect(await messageHits('sam', { q: 'tote', from: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);
    expect(await messageHits('sam', { q: 'tote', to: '2020-01-01T00:00:00Z' })).toEqual([]);
    expect((await messageHits('sam', { q: 'tote', from: '2020-01-01' })).length).toBe(2);
    expect((await messageHits('sam', { q: 'picking', role: 'supervisor' })).map((h) => h.messageId)).toEqual([ids.handover]);
    expect((await messageHits('sam', { q: 'picking', status: 'archived' })).map((h) => h.messageId)).toEqual([ids.handover]);
    expect((await messageHits('sam', { q: 'picking', status: 'active' })).map((h) => h.messageId)).toEqual([
      ids.pickingMessage,
      ids.pickedMessage,
    ]);
  });

  it('ranks conversations, title matches first, with snippets and highlights', async () => {
    const response = await conversations('sam', { q: 'forklift' }).expect(200);
    const hits: ConversationHit[] = response.body.items;
    expect(hits.map((hit) => hit.conversation.id)).toEqual([ids.files, ids.supervisor]);
    expect(hits[0]).toMatchObject({ matches: 1, score: 1.5 });
    expect(hits[0]!.snippets[0]).toMatchObject({ source: 'attachment', attachmentName: 'charging.txt' });

    const titled = (await conversations('sam', { q: 'damaged' }).expect(200)).body.items as ConversationHit[];
    expect(titled).toHaveLength(1);
    expect(titled[0]!.conversation.id).toBe(ids.totes);
    expect(titled[0]!.score).toBe(6);
    expect(titled[0]!.snippets.map((s) => s.source).sort()).toEqual(['message', 'title']);
    for (const snippet of titled[0]!.snippets) expect(highlighted(snippet).map((word) => word.toLowerCase())).toEqual(['damaged']);
  });

  it('pages with a cursor bound to the query', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await messages('sam', { q: 'pick*', limit: 1, ...(cursor ? { cursor } : {}) }).expect(200);
      seen.push(...page.body.items.map((hit: MessageHit) => hit.messageId));
      cursor = page.body.nextCursor ?? undefined;
    } while (cursor);
    const all = (await messageHits('sam', { q: 'pick*' })).map((h) => h.messageId);
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(3);

    const first = await conversations('sam', { q: 'pick*', limit: 1 }).expect(200);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await conversations('sam', { q: 'pick*', limit: 5, cursor: first.body.nextCursor }).expect(200);
    const walked = [...first.body.items, ...second.body.items].map((hit: ConversationHit) => hit.conversation.id);
    expect(walked).toEqual(
      (await conversations('sam', { q: 'pick*' }).expect(200)).body.items.map((hit: ConversationHit) => hit.conversation.id),
    );
    expect(new Set(walked).size).toBe(walked.length);

    const other = await messages('sam', { q: 'tote', cursor: first.body.nextCursor }).expect(400);
    expect(other.body.code).toBe('INVALID_CURSOR');
  });

  it('never shows another user’s data, or a deleted conversation', async () => {
    const hits = await messageHits('sam', { q: 'forklift' });
    expect(hits.map((hit) => hit.conversationId)).not.toContain(ids.eve);
    expect(hits.map((hit) => hit.conversationId)).not.toContain(ids.gone);
    expect(await messageHits('sam', { q: 'stolen' })).toEqual([]);
    expect((await messageHits('eve', { q: 'damaged' })).map((hit) => hit.conversationId)).toEqual([ids.eve]);
  });

  it('follows edits: renamed titles and deleted messages', async () => {
    const id = await conversation('sam', { title: 'Temporary' });
    const message = await say('sam', id, 'Mezzanine stock count');
    await t.http().patch(`${API}/conversations/${id}`).set(t.auth('sam')).send({ title: 'Mezzanine audit' }).expect(200);
    const hits = (await conversations('sam', { q: 'audit' }).expect(200)).body.items as ConversationHit[];
    expect(hits.map((hit) => hit.conversation.id)).toEqual([id]);
    await t.http().delete(`${API}/conversations/${id}/messages/${message}`).set(t.auth('sam')).expect(204);
    expect(await messageHits('sam', { q: 'mezzanine' })).toEqual([]);
  });

  it.each([
    ['an empty query', { q: '' }],
    ['a query over 500 characters', { q: 'a'.repeat(501) }],
    ['an unbalanced quote', { q: '"red tote' }],
    ['only excluded words', { q: '-tote' }],
    ['only very common words', { q: 'the and of' }],
    ['from after to', { q: 'tote', from: '2026-01-02', to: '2026-01-01' }],
    ['an unknown filter', { q: 'tote', sort: 'x' }],
    ['a bad date', { q: 'tote', from: 'yesterday' }],
  ])('answers 400 for %s', async (_label, query) => {
    const response = await messages('sam', query).expect(400);
    expect(response.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    await conversations('sam', query).expect(400);
  });

  it('treats operators and regex characters as literal text', async () => {
    await t.http().get(`${API}/messages/search?q[$gt]=`).set(t.auth('sam')).expect(400);
    expect((await messageHits('sam', { q: '$regex tote.*' })).length).toBe(0);
    expect((await messageHits('sam', { q: 'tote.* (red|blue)' })).length).toBe(0);
    expect((await messageHits('sam', { q: '.*tote[' })).map((h) => h.messageId)).toContain(ids.pickedMessage);
  });

  (process.env.TEST_MONGODB_KIND === 'mongo-java-server' ? it.skip : it)(
    'is served by the term index on real MongoDB (explain)',
    async () => {
      const plan = await t.db
        .collection('chat_messages')
        .find({ userId: 'sam', searchTerms: { $all: ['tote'] } })
        .sort({ timestamp: -1, _id: -1 })
        .explain('queryPlanner');
      const text = JSON.stringify(plan.queryPlanner.winningPlan);
      expect(text).toContain('IXSCAN');
      expect(text).toContain('userId_searchTerms_timestamp');
      expect(text).not.toContain('COLLSCAN');
    },
  );
});
