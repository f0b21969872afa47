import { TestApp, startTestApp } from '../support/test-app.js';

describe('Conversations API', () => {
  let t: TestApp;
  const alice = () => t.auth('alice', ['warehouse_operator', 'supervisor']);
  const bob = () => t.auth('bob', ['inventory_manager']);

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  async function createConversation(headers: Record<string, string>, body: Record<string, unknown> = {}) {
    const response = await t.http().post('/api/v1/chat/conversations').set(headers).send(body).expect(201);
    return response.body as { id: string; role: string; status: string; title: string | null };
  }

  async function countConversations() {
    return t.db.collection('chat_conversations').countDocuments();
  }

  describe('POST /conversations', () => {
    it('creates a conversation with the caller’s first WMS role by default', async () => {
      const response = await t.http().post('/api/v1/chat/conversations').set(alice()).send({ title: 'Short pick' }).expect(201);
      expect(response.body).toMatchObject({
        userId: 'alice',
        title: 'Short pick',
        role: 'warehouse_operator',
        status: 'active',
        metadata: {},
        messageCount: 0,
        lastMessageAt: null,
      });
      expect(response.body.id).toMatch(/^[0-9a-f]{24}$/);
      expect(new Date(response.body.createdAt).toISOString()).toBe(response.body.createdAt);
    });

    it('skips admin when choosing the default role', async () => {
      const created = await createConversation(t.auth('carol', ['admin', 'supervisor']));
      expect(created.role).toBe('supervisor');
    });

    it('accepts a role the caller holds, and metadata', async () => {
      const response = await t
        .http()
        .post('/api/v1/chat/conversations')
        .set(alice())
        .send({ role: 'supervisor', metadata: { site: 'DC-01', shift: { name: 'night' } } })
        .expect(201);
      expect(response.body).toMatchObject({ role: 'supervisor', metadata: { site: 'DC-01', shift: { name: 'night' } }, title: null });
    });

    it('refuses a role the caller does not hold with 403', async () => {
      const before = await countConversations();
      const response = await t.http().post('/api/v1/chat/conversations').set(bob()).send({ role: 'supervisor' }).expect(403);
      expect(response.body).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'ROLE_NOT_ALLOWED' });
      expect(await countConversations()).toBe(before);
    });

    it('answers 400 ROLE_REQUIRED when the token has no WMS role and none is given', async () => {
      const response = await t
        .http()
        .post('/api/v1/chat/conversations')
        .set(t.auth('root', ['admin']))
        .send({})
        .expect(400);
      expect(response.body).toMatchObject({ code: 'ROLE_REQUIRED', details: [{ field: 'role' }] });
    });

    it.each([
      ['an operator object as title', { title: { $gt: '' } }, 'title'],
      ['an unknown field', { title: 'x', owner: 'mallory' }, 'owner'],
      ['a number as title', { title: 42 }, 'title'],
      ['an empty title', { title: '' }, 'title'],
      ['a title over 200 characters', { title: 'x'.repeat(201) }, 'title'],
      ['a malformed role', { role: 'Supervisor; drop' }, 'role'],
      ['metadata with a $ key', { metadata: { $where: 'sleep(1000)' } }, 'metadata'],
      ['metadata with a dotted key', { metadata: { 'a.b': 1 } }, 'metadata'],
      ['metadata that is an array', { metadata: [1, 2] }, 'metadata'],
      ['metadata nested too deep', { metadata: { a: { b: { c: { d: { e: 1 } } } } } }, 'metadata'],
      ['metadata over 16 KB', { metadata: { blob: 'x'.repeat(17 * 1024) } }, 'metadata'],
    ])('rejects %s with 400 and writes nothing', async (_case, body, field) => {
      const before = await countConversations();
      const response = await t.http().post('/api/v1/chat/conversations').set(alice()).send(body).expect(400);
      expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'VALIDATION_FAILED' });
      expect(response.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      expect(await countConversations()).toBe(before);
    });

    it('rejects a body that is not valid JSON with 400 MALFORMED_JSON', async () => {
      const response = await t
        .http()
        .post('/api/v1/chat/conversations')
        .set(alice())
        .set('Content-Type', 'application/json')
        .send('{"title":')
        .expect(400);
      expect(response.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        code: 'MALFORMED_JSON',
        message: 'Request body is not valid JSON',
      });
    });
  });

  describe('GET /conversations/:id', () => {
    it('returns the caller’s conversation', async () => {
      const created = await createConversation(alice(), { title: 'Mine' });
      const response = await t.http().get(`/api/v1/chat/conversations/${created.id}`).set(alice()).expect(200);
      expect(response.body).toMatchObject({ id: created.id, title: 'Mine' });
    });

    it('answers 404 for another user’s conversation, exactly as for a missing one', async () => {
      const created = await createConversation(alice());
      const theirs = await t.http().get(`/api/v1/chat/conversations/${created.id}`).set(bob()).expect(404);
      const missing = await t.http().get('/api/v1/chat/conversations/0123456789abcdef01234567').set(bob()).expect(404);
      expect(theirs.body).toEqual(missing.body);
      expect(theirs.body).toEqual({
        statusCode: 404,
        error: 'Not Found',
        code: 'CONVERSATION_NOT_FOUND',
        message: 'Conversation not found',
      });
    });

    it('answers 400 for an id that is not an ObjectId', async () => {
      const response = await t.http().get('/api/v1/chat/conversations/not-an-id').set(alice()).expect(400);
      expect(response.body).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ field: 'id' }] });
    });
  });

  describe('GET /conversations (listing)', () => {
    it('walks every conversation exactly once, newest activity first, across pages', async () => {
      const headers = t.auth('walker', ['warehouse_operator']);
      const ids: string[] = [];
      for (let i = 0; i < 23; i += 1) ids.push((await createConversation(headers, { title: `c${i}` })).id);

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: Record<string, string | number> = { limit: 5 };
        if (cursor) query.cursor = cursor;
        const response = await t.http().get('/api/v1/chat/conversations').query(query).set(headers).expect(200);
        expect(response.body.items.length).toBeLessThanOrEqual(5);
        seen.push(...response.body.items.map((item: { id: string }) => item.id));
        cursor = response.body.nextCursor;
        pages += 1;
      } while (cursor);

      expect(pages).toBe(5);
      expect(seen).toEqual([...ids].reverse());
    });

    it('moves a conversation to the top when a message is added, and a walk in progress neither repeats nor skips the others', async () => {
      const headers = t.auth('mover', ['warehouse_operator']);
      const ids: string[] = [];
      for (let i = 0; i < 6; i += 1) ids.push((await createConversation(headers)).id);
      const first = await t.http().get('/api/v1/chat/conversations').query({ limit: 3 }).set(headers).expect(200);
      expect(first.body.items.map((item: { id: string }) => item.id)).toEqual([ids[5], ids[4], ids[3]]);

      // The oldest conversation gets new activity mid-walk.
      await t.http().post(`/api/v1/chat/conversations/${ids[0]}/messages`).set(headers).send({ content: 'bump' }).expect(201);

      const second = await t
        .http()
        .get('/api/v1/chat/conversations')
        .query({ limit: 3, cursor: first.body.nextCursor })
        .set(headers)
        .expect(200);
      expect(second.body.items.map((item: { id: string }) => item.id)).toEqual([ids[2], ids[1]]);
      expect(second.body.nextCursor).toBeNull();

      const fresh = await t.http().get('/api/v1/chat/conversations').query({ limit: 1 }).set(headers).expect(200);
      expect(fresh.body.items[0].id).toBe(ids[0]);
    });

    it('filters by status and role, and shows only the caller’s conversations', async () => {
      const headers = t.auth('filterer', ['warehouse_operator', 'supervisor']);
      const operator = await createConversation(headers, { role: 'warehouse_operator' });
      const supervisor = await createConversation(headers, { role: 'supervisor' });
      const archived = await createConversation(headers, { role: 'supervisor' });
      await t.http().delete(`/api/v1/chat/conversations/${archived.id}`).set(headers).expect(204);
      await createConversation(t.auth('someone-else', ['supervisor']));

      const active = await t.http().get('/api/v1/chat/conversations').set(headers).expect(200);
      expect(active.body.items.map((item: { id: string }) => item.id)).toEqual([supervisor.id, operator.id]);

      const bySupervisor = await t.http().get('/api/v1/chat/conversations').query({ role: 'supervisor' }).set(headers).expect(200);
      expect(bySupervisor.body.items.map((item: { id: string }) => item.id)).toEqual([supervisor.id]);

      const archivedList = await t.http().get('/api/v1/chat/conversations').query({ status: 'archived' }).set(headers).expect(200);
      expect(archivedList.body.items.map((item: { id: string }) => item.id)).toEqual([archived.id]);
    });

    it.each([
      ['limit=0', 'limit=0', 'VALIDATION_FAILED'],
      ['limit=101', 'limit=101', 'VALIDATION_FAILED'],
      ['limit=abc', 'limit=abc', 'VALIDATION_FAILED'],
      ['status=deleted', 'status=deleted', 'VALIDATION_FAILED'],
      ['an operator in the query string', 'status[$ne]=x', 'VALIDATION_FAILED'],
      ['a repeated parameter', 'status=active&status=archived', 'VALIDATION_FAILED'],
      ['an unknown parameter', 'userId=bob', 'VALIDATION_FAILED'],
      ['a garbage cursor', 'cursor=%7B%22%24gt%22%3A1%7D', 'INVALID_CURSOR'],
    ])('answers 400 for %s', async (_case, query, code) => {
      const response = await t.http().get(`/api/v1/chat/conversations?${query}`).set(alice()).expect(400);
      expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request', code });
    });

    it('refuses a cursor issued for another filter, and a tampered one', async () => {
      const headers = t.auth('cursor-user', ['warehouse_operator']);
      for (let i = 0; i < 3; i += 1) await createConversation(headers);
      const page = await t.http().get('/api/v1/chat/conversations').query({ limit: 1 }).set(headers).expect(200);
      const cursor: string = page.body.nextCursor;

      const replayed = await t
        .http()
        .get('/api/v1/chat/conversations')
        .query({ limit: 1, cursor, status: 'archived' })
        .set(headers)
        .expect(400);
      expect(replayed.body.code).toBe('INVALID_CURSOR');

      const decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      const tampered = Buffer.from(JSON.stringify({ ...decoded, i: { $gt: '' } })).toString('base64url');
      const response = await t.http().get('/api/v1/chat/conversations').query({ cursor: tampered }).set(headers).expect(400);
      expect(response.body.code).toBe('INVALID_CURSOR');
    });
  });

  describe('PATCH /conversations/:id', () => {
    it('renames, replaces metadata, archives and restores', async () => {
      const created = await createConversation(alice(), { metadata: { a: 1 } });
      const renamed = await t
        .http()
        .patch(`/api/v1/chat/conversations/${created.id}`)
        .set(alice())
        .send({ title: 'Renamed', metadata: { b: 2 } })
        .expect(200);
      expect(renamed.body).toMatchObject({ title: 'Renamed', metadata: { b: 2 }, status: 'active' });

      const archived = await t
        .http()
        .patch(`/api/v1/chat/conversations/${created.id}`)
        .set(alice())
        .send({ status: 'archived' })
        .expect(200);
      expect(archived.body.status).toBe('archived');
      const restored = await t
        .http()
        .patch(`/api/v1/chat/conversations/${created.id}`)
        .set(alice())
        .send({ status: 'active', title: null })
        .expect(200);
      expect(restored.body).toMatchObject({ status: 'active', title: null });
    });

    it.each([
      ['an empty body', {}],
      ['status deleted', { status: 'deleted' }],
      ['an unknown field', { messageCount: 0 }],
      ['an operator as metadata key', { metadata: { $set: { userId: 'bob' } } }],
    ])('rejects %s with 400 and changes nothing', async (_case, body) => {
      const created = await createConversation(alice(), { title: 'Unchanged' });
      await t.http().patch(`/api/v1/chat/conversations/${created.id}`).set(alice()).send(body).expect(400);
      const after = await t.http().get(`/api/v1/chat/conversations/${created.id}`).set(alice()).expect(200);
      expect(after.body).toMatchObject({ title: 'Unchanged', status: 'active', userId: 'alice', messageCount: 0 });
    });

    it('answers 404 for another user’s conversation and leaves it alone', async () => {
      const created = await createConversation(alice(), { title: 'Keep' });
      await t.http().patch(`/api/v1/chat/conversations/${created.id}`).set(bob()).send({ title: 'Hijacked' }).expect(404);
      const after = await t.http().get(`/api/v1/chat/conversations/${created.id}`).set(alice()).expect(200);
      expect(after.body.title).toBe('Keep');
    });
  });

  describe('DELETE /conversations/:id', () => {
    it('archives by default: still readable, listed under archived only', async () => {
      const created = await createConversation(alice());
      await t.http().delete(`/api/v1/chat/conversations/${created.id}`).set(alice()).expect(204);
      const response = await t.http().get(`/api/v1/chat/conversations/${created.id}`).set(alice()).expect(200);
      expect(response.body.status).toBe('archived');
    });

    it('with permanent=true marks it deleted and hides it everywhere', async () => {
      const headers = t.auth('deleter', ['warehouse_operator']);
      const created = await createConversation(headers);
      await t.http().post(`/api/v1/chat/conversations/${created.id}/messages`).set(headers).send({ content: 'secret' }).expect(201);
      await t.http().delete(`/api/v1/chat/conversations/${created.id}`).query({ permanent: 'true' }).set(headers).expect(204);

      await t.http().get(`/api/v1/chat/conversations/${created.id}`).set(headers).expect(404);
      await t.http().get(`/api/v1/chat/conversations/${created.id}/messages`).set(headers).expect(404);
      await t.http().patch(`/api/v1/chat/conversations/${created.id}`).set(headers).send({ status: 'active' }).expect(404);
      await t.http().delete(`/api/v1/chat/conversations/${created.id}`).set(headers).expect(404);
      for (const status of ['active', 'archived']) {
        const list = await t.http().get('/api/v1/chat/conversations').query({ status }).set(headers).expect(200);
        expect(list.body.items).toEqual([]);
      }
      const stored = await t.db.collection('chat_conversations').findOne({ userId: 'deleter' });
      expect(stored).toMatchObject({ status: 'deleted', deletedAt: expect.any(Date) });
    });

    it('answers 404 for another user’s conversation and leaves it active', async () => {
      const created = await createConversation(alice());
      await t.http().delete(`/api/v1/chat/conversations/${created.id}`).query({ permanent: 'true' }).set(bob()).expect(404);
      const after = await t.http().get(`/api/v1/chat/conversations/${created.id}`).set(alice()).expect(200);
      expect(after.body.status).toBe('active');
    });

    it('rejects permanent values other than true/false', async () => {
      const created = await createConversation(alice());
      await t.http().delete(`/api/v1/chat/conversations/${created.id}`).query({ permanent: 'yes' }).set(alice()).expect(400);
    });
  });
});
