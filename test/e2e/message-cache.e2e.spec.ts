import { randomBytes } from 'node:crypto';
import { TestApp, startTestApp } from '../support/test-app.js';

const CONVERSATIONS = '/api/v1/chat/conversations';

interface Page {
  items: { id: string; content: string; status: string; attachmentCount: number; seq: number }[];
  nextCursor: string | null;
}

/** The cache's reads by result, from the app's own /metrics. */
async function cacheReads(app: TestApp): Promise<Record<'hit' | 'fill' | 'miss', number>> {
  const text = (await app.http().get('/metrics').expect(200)).text;
  const read = (result: string) =>
    Number(new RegExp(`^chat_message_cache_reads_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { hit: read('hit'), fill: read('fill'), miss: read('miss') };
}

async function cacheBytes(app: TestApp): Promise<number> {
  const text = (await app.http().get('/metrics').expect(200)).text;
  return Number(/^chat_message_cache_bytes (\d+)/m.exec(text)?.[1]);
}

/**
 * The message cache (CHAT_CACHE_MAX_MB) on two instances sharing one store, without Redis: every
 * read checks the conversation's version in the store, so what one instance writes, the other
 * reads at once, and a cached page is the page the store would give.
 */
describe('Message cache', () => {
  let a: TestApp;
  let b: TestApp;
  let uncached: TestApp;

  beforeAll(async () => {
    const dbName = `test_cache_${randomBytes(5).toString('hex')}`;
    a = await startTestApp({ PLAYBOOK_CHUNK_DELAY_MS: '20' }, { dbName });
    b = await startTestApp({ PLAYBOOK_CHUNK_DELAY_MS: '0' }, { dbName });
    uncached = await startTestApp({ CHAT_CACHE_MAX_MB: '0' }, { dbName });
  });
  afterAll(async () => {
    await uncached?.app.close();
    await b?.app.close();
    await a?.close();
  });

  const history = async (app: TestApp, user: string, id: string, query: Record<string, string> = {}) =>
    (await app.http().get(`${CONVERSATIONS}/${id}/messages`).query(query).set(app.auth(user)).expect(200)).body as Page;

  async function conversationWith(app: TestApp, user: string, contents: string[]): Promise<string> {
    const id = (await app.http().post(CONVERSATIONS).set(app.auth(user)).send({}).expect(201)).body.id;
    for (const content of contents)
      await app.http().post(`${CONVERSATIONS}/${id}/messages`).set(app.auth(user)).send({ content, reply: false }).expect(201);
    return id;
  }

  it('serves a conversation read twice from memory, and a write on the other instance at once', async () => {
    const id = await conversationWith(a, 'ana', ['one', 'two']);
    const before = await cacheReads(b);
    await history(b, 'ana', id);
    const filled = await history(b, 'ana', id);
    const hit = await history(b, 'ana', id);
    expect(hit).toEqual(filled);
    const after = await cacheReads(b);
    expect({ fill: after.fill - before.fill, hit: after.hit - before.hit }).toEqual({ fill: 1, hit: 1 });

    await a.http().post(`${CONVERSATIONS}/${id}/messages`).set(a.auth('ana')).send({ content: 'three', reply: false }).expect(201);
    expect((await history(b, 'ana', id)).items.map((message) => message.content)).toEqual(['one', 'two', 'three']);
  });

  it('sees a reply completed and a message deleted on the other instance, and refuses another user', async () => {
    const id = (await a.http().post(CONVERSATIONS).set(a.auth('ben')).send({}).expect(201)).body.id;
    const turn = await a
      .http()
      .post(`${CONVERSATIONS}/${id}/messages`)
      .set(a.auth('ben'))
      .send({ content: 'short pick', stream: true })
      .expect(202);
    // Cached on B while the reply is still being written on A.
    await history(b, 'ben', id);
    const whilePending = await history(b, 'ben', id);
    expect(whilePending.items.map((message) => message.status)).toEqual(['completed', 'pending']);
    let onB = whilePending;
    for (const deadline = Date.now() + 10_000; onB.items[1]!.status === 'pending' && Date.now() < deadline;) {
      await new Promise((wake) => setTimeout(wake, 50));
      onB = await history(b, 'ben', id);
    }
    const stored = await history(uncached, 'ben', id);
    expect(onB).toEqual(stored);
    expect(onB.items[1]).toMatchObject({ id: turn.body.assistantMessage.id, status: 'completed' });

    await a.http().delete(`${CONVERSATIONS}/${id}/messages/${turn.body.userMessage.id}`).set(a.auth('ben')).expect(204);
    expect((await history(b, 'ben', id)).items.map((message) => message.id)).toEqual([turn.body.assistantMessage.id]);
    await b.http().get(`${CONVERSATIONS}/${id}/messages`).set(b.auth('intruder')).expect(404);
  });

  it('sees attachments counted on the other instance', async () => {
    const id = await conversationWith(a, 'cleo', ['with a file']);
    await history(b, 'cleo', id);
    const cached = await history(b, 'cleo', id);
    const messageId = cached.items[0]!.id;
    await a
      .http()
      .post(`/api/v1/chat/messages/${messageId}/attachments`)
      .set(a.auth('cleo'))
      .attach('file', Buffer.from('pick list\n'), { filename: 'list.txt', contentType: 'text/plain' })
      .expect(201);
    expect((await history(b, 'cleo', id)).items[0]!.attachmentCount).toBe(1);
  });

  it('answers 404 on every instance once the conversation is deleted, and forgets it', async () => {
    const id = await conversationWith(a, 'dora', ['gone soon']);
    await history(b, 'dora', id);
    await history(b, 'dora', id);
    await a.http().delete(`${CONVERSATIONS}/${id}`).query({ permanent: 'true' }).set(a.auth('dora')).expect(204);
    await b.http().get(`${CONVERSATIONS}/${id}/messages`).set(b.auth('dora')).expect(404);
    await b.http().get(`${CONVERSATIONS}/${id}/messages`).set(b.auth('dora')).expect(404);
  });

  it('drops a user’s histories when the user’s data is erased', async () => {
    const id = await conversationWith(b, 'fred', ['personal']);
    await history(b, 'fred', id);
    await history(b, 'fred', id);
    const hitsBefore = (await cacheReads(b)).hit;
    const bytesBefore = await cacheBytes(b);
    const receipt = await b.http().delete('/api/v1/chat/user/data?confirm=erase-all-my-data').set(b.auth('fred')).expect(200);
    expect(receipt.body.state).toBe('done');
    expect(await cacheBytes(b)).toBeLessThan(bytesBefore);
    await b.http().get(`${CONVERSATIONS}/${id}/messages`).set(b.auth('fred')).expect(404);
    expect((await cacheReads(b)).hit).toBe(hitsBefore);
  });

  it('answers every page, in both orders and through the cursors, exactly as the store does', async () => {
    const id = await conversationWith(
      a,
      'eve',
      Array.from({ length: 23 }, (_, index) => `message ${index}`),
    );
    for (const order of ['asc', 'desc']) {
      for (const limit of ['1', '5', '23', '50']) {
        const walk = async (app: TestApp) => {
          const pages: Page[] = [];
          let cursor: string | null = null;
          do {
            const query: Record<string, string> = { order, limit };
            if (cursor) query[order === 'asc' ? 'after' : 'before'] = cursor;
            const page = await history(app, 'eve', id, query);
            pages.push(page);
            cursor = page.nextCursor;
          } while (cursor);
          return pages;
        };
        await walk(b);
        expect(await walk(b)).toEqual(await walk(uncached));
      }
    }
    expect((await cacheReads(b)).hit).toBeGreaterThan(0);
  });
});
