import { TestApp, startTestApp } from '../support/test-app.js';

// Storage semantics of messages; sends use reply: false (replies are covered in chat.e2e.spec.ts).
describe('Messages API', () => {
  let t: TestApp;
  let limited: TestApp;

  beforeAll(async () => {
    [t, limited] = await Promise.all([
      startTestApp(),
      startTestApp({ CHAT_MAX_MESSAGES_PER_CONVERSATION: '3', CHAT_MAX_MESSAGE_LENGTH: '10', BODY_LIMIT: '2kb' }),
    ]);
  });
  afterAll(() => Promise.all([t.close(), limited.close()]));

  async function newConversation(app: TestApp, user: string): Promise<string> {
    const response = await app.http().post('/api/v1/chat/conversations').set(app.auth(user)).send({}).expect(201);
    return response.body.id;
  }

  const messagesOf = (id: string) => `/api/v1/chat/conversations/${id}/messages`;

  describe('POST /conversations/:id/messages', () => {
    it('stores the user message and keeps messageCount and lastMessageAt exact', async () => {
      const id = await newConversation(t, 'writer');
      const first = await t
        .http()
        .post(messagesOf(id))
        .set(t.auth('writer'))
        .send({ reply: false, content: 'Where do damaged totes go?', metadata: { client: 'rf-gun' } })
        .expect(201);
      expect(first.body.assistantMessage).toBeNull();
      expect(first.body.userMessage).toMatchObject({
        conversationId: id,
        type: 'user',
        content: 'Where do damaged totes go?',
        metadata: { client: 'rf-gun' },
        seq: 1,
      });
      const second = await t
        .http()
        .post(messagesOf(id))
        .set(t.auth('writer'))
        .send({ reply: false, content: 'And broken pallets?' })
        .expect(201);
      expect(second.body.userMessage.seq).toBe(2);

      const conversation = await t.http().get(`/api/v1/chat/conversations/${id}`).set(t.auth('writer')).expect(200);
      expect(conversation.body.messageCount).toBe(2);
      expect(conversation.body.lastMessageAt).toBe(second.body.userMessage.timestamp);
      const stored = await t.db
        .collection('chat_messages')
        .find({ conversationId: { $exists: true }, userId: 'writer' })
        .toArray();
      expect(stored).toHaveLength(2);
    });

    it('keeps counts and sequence numbers exact under concurrent sends', async () => {
      const id = await newConversation(t, 'racer');
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          t
            .http()
            .post(messagesOf(id))
            .set(t.auth('racer'))
            .send({ reply: false, content: `m${i}` }),
        ),
      );
      expect(responses.map((response) => response.status)).toEqual(Array(20).fill(201));
      expect(responses.map((response) => response.body.userMessage.seq).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      const conversation = await t.http().get(`/api/v1/chat/conversations/${id}`).set(t.auth('racer')).expect(200);
      expect(conversation.body.messageCount).toBe(20);
    });

    it.each([
      ['an assistant message from a client', { content: 'I am the bot', type: 'assistant' }, 'type'],
      ['a system message from a client', { content: 'rules', type: 'system' }, 'type'],
      ['empty content', { content: '' }, 'content'],
      ['whitespace-only content', { content: ' \n\t ' }, 'content'],
      ['missing content', {}, 'content'],
      ['content that is an operator object', { content: { $ne: null } }, 'content'],
      ['an unknown field', { content: 'hi', userId: 'mallory' }, 'userId'],
      ['a client-chosen seq', { content: 'hi', seq: 1 }, 'seq'],
    ])('rejects %s with 400 and stores nothing', async (_case, body, field) => {
      const id = await newConversation(t, 'validator');
      const response = await t.http().post(messagesOf(id)).set(t.auth('validator')).send(body).expect(400);
      expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'VALIDATION_FAILED' });
      expect(response.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      const conversation = await t.http().get(`/api/v1/chat/conversations/${id}`).set(t.auth('validator')).expect(200);
      expect(conversation.body.messageCount).toBe(0);
      expect(await t.db.collection('chat_messages').countDocuments({ userId: 'validator' })).toBe(0);
    });

    it('enforces CHAT_MAX_MESSAGE_LENGTH in characters as the user sees them', async () => {
      const id = await newConversation(limited, 'counter');
      await limited
        .http()
        .post(messagesOf(id))
        .set(limited.auth('counter'))
        .send({ reply: false, content: '📦'.repeat(10) })
        .expect(201);
      const response = await limited
        .http()
        .post(messagesOf(id))
        .set(limited.auth('counter'))
        .send({ reply: false, content: 'x'.repeat(11) })
        .expect(400);
      expect(response.body).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: [{ field: 'content', messages: ['content must be at most 10 characters'] }],
      });
    });

    it('refuses messages past CHAT_MAX_MESSAGES_PER_CONVERSATION with 409', async () => {
      const id = await newConversation(limited, 'chatty');
      for (let i = 0; i < 3; i += 1) {
        await limited
          .http()
          .post(messagesOf(id))
          .set(limited.auth('chatty'))
          .send({ reply: false, content: `m${i}` })
          .expect(201);
      }
      const response = await limited
        .http()
        .post(messagesOf(id))
        .set(limited.auth('chatty'))
        .send({ reply: false, content: 'one more' })
        .expect(409);
      expect(response.body).toMatchObject({
        statusCode: 409,
        error: 'Conflict',
        code: 'CONVERSATION_FULL',
        details: { limit: 3, messageCount: 3 },
      });
      expect(response.body.message).toContain('limit of 3 messages');
      expect(await limited.db.collection('chat_messages').countDocuments({ userId: 'chatty' })).toBe(3);
    });

    it('lets exactly the allowed number of concurrent sends through at the limit', async () => {
      const id = await newConversation(limited, 'stampede');
      const statuses = (
        await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            limited
              .http()
              .post(messagesOf(id))
              .set(limited.auth('stampede'))
              .send({ reply: false, content: `m${i}` }),
          ),
        )
      ).map((response) => response.status);
      expect(statuses.filter((status) => status === 201)).toHaveLength(3);
      expect(statuses.filter((status) => status === 409)).toHaveLength(5);
    });

    it('refuses messages to an archived conversation with 409, and accepts them again once restored', async () => {
      const id = await newConversation(t, 'archiver');
      await t.http().delete(`/api/v1/chat/conversations/${id}`).set(t.auth('archiver')).expect(204);
      const response = await t.http().post(messagesOf(id)).set(t.auth('archiver')).send({ reply: false, content: 'hello?' }).expect(409);
      expect(response.body).toMatchObject({ code: 'CONVERSATION_NOT_ACTIVE' });
      await t.http().patch(`/api/v1/chat/conversations/${id}`).set(t.auth('archiver')).send({ status: 'active' }).expect(200);
      await t.http().post(messagesOf(id)).set(t.auth('archiver')).send({ reply: false, content: 'hello again' }).expect(201);
    });

    it('answers 404 for a deleted conversation and for another user’s, storing nothing', async () => {
      const deleted = await newConversation(t, 'owner');
      await t.http().delete(`/api/v1/chat/conversations/${deleted}`).query({ permanent: 'true' }).set(t.auth('owner')).expect(204);
      await t.http().post(messagesOf(deleted)).set(t.auth('owner')).send({ reply: false, content: 'x' }).expect(404);

      const theirs = await newConversation(t, 'owner');
      const response = await t.http().post(messagesOf(theirs)).set(t.auth('intruder')).send({ reply: false, content: 'x' }).expect(404);
      expect(response.body.code).toBe('CONVERSATION_NOT_FOUND');
      expect(await t.db.collection('chat_messages').countDocuments({ userId: 'intruder' })).toBe(0);
    });

    it('answers 409 DUPLICATE_KEY, not 500, when the unique seq index refuses a write, and gives the slot back', async () => {
      const id = await newConversation(t, 'duplicator');
      await t.http().post(messagesOf(id)).set(t.auth('duplicator')).send({ reply: false, content: 'one' }).expect(201);
      // Simulate a corrupted counter: the next reservation hands out seq 1 again.
      await t.db.collection('chat_conversations').updateOne({ userId: 'duplicator' }, { $set: { lastSeq: 0 } });
      const response = await t.http().post(messagesOf(id)).set(t.auth('duplicator')).send({ reply: false, content: 'two' }).expect(409);
      expect(response.body).toMatchObject({ statusCode: 409, code: 'DUPLICATE_KEY' });
      const conversation = await t.http().get(`/api/v1/chat/conversations/${id}`).set(t.auth('duplicator')).expect(200);
      expect(conversation.body.messageCount).toBe(1);
    });

    it('answers 413 with the standard body for a body over BODY_LIMIT', async () => {
      const id = await newConversation(limited, 'big');
      const response = await limited
        .http()
        .post(messagesOf(id))
        .set(limited.auth('big'))
        .send({ reply: false, content: 'x'.repeat(4096) })
        .expect(413);
      expect(response.body).toEqual({
        statusCode: 413,
        error: 'Payload Too Large',
        code: 'PAYLOAD_TOO_LARGE',
        message: 'Request body is larger than the allowed limit',
      });
    });
  });

  describe('GET /conversations/:id/messages', () => {
    let id: string;
    const owner = 'reader';
    const contents = Array.from({ length: 12 }, (_, i) => `message ${i}`);

    beforeAll(async () => {
      id = await newConversation(t, owner);
      for (const content of contents) {
        await t.http().post(messagesOf(id)).set(t.auth(owner)).send({ reply: false, content }).expect(201);
      }
    });

    async function walk(order: 'asc' | 'desc', limit: number) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const query: Record<string, string | number> = { order, limit };
        if (cursor) query[order === 'asc' ? 'after' : 'before'] = cursor;
        const response = await t.http().get(messagesOf(id)).query(query).set(t.auth(owner)).expect(200);
        seen.push(...response.body.items.map((item: { content: string }) => item.content));
        cursor = response.body.nextCursor;
      } while (cursor);
      return seen;
    }

    it('pages oldest first by default with after=', async () => {
      const firstPage = await t.http().get(messagesOf(id)).set(t.auth(owner)).expect(200);
      expect(firstPage.body.items).toHaveLength(12);
      expect(firstPage.body.nextCursor).toBeNull();
      expect(await walk('asc', 5)).toEqual(contents);
    });

    it('pages newest first with order=desc and before=', async () => {
      expect(await walk('desc', 5)).toEqual([...contents].reverse());
    });

    it('returns the documented message shape', async () => {
      const response = await t.http().get(messagesOf(id)).query({ limit: 1 }).set(t.auth(owner)).expect(200);
      expect(Object.keys(response.body.items[0]).sort()).toEqual([
        'attachmentCount',
        'content',
        'conversationId',
        'id',
        'metadata',
        'seq',
        'status',
        'timestamp',
        'type',
      ]);
    });

    it.each([
      ['after with order=desc', () => ({ order: 'desc', after: 'abc' }), 'VALIDATION_FAILED'],
      ['before with order=asc', () => ({ before: 'abc' }), 'VALIDATION_FAILED'],
      ['limit=201', () => ({ limit: 201 }), 'VALIDATION_FAILED'],
      ['order=sideways', () => ({ order: 'sideways' }), 'VALIDATION_FAILED'],
      [
        'a cursor that is not ours',
        () => ({ after: Buffer.from('{"s":"x","k":"2020-01-01T00:00:00.000Z","i":"0123456789abcdef01234567"}').toString('base64url') }),
        'INVALID_CURSOR',
      ],
    ])('answers 400 for %s', async (_case, query, code) => {
      const response = await t.http().get(messagesOf(id)).query(query()).set(t.auth(owner)).expect(400);
      expect(response.body.code).toBe(code);
    });

    it('refuses a desc cursor used with order=asc', async () => {
      const page = await t.http().get(messagesOf(id)).query({ order: 'desc', limit: 2 }).set(t.auth(owner)).expect(200);
      const response = await t.http().get(messagesOf(id)).query({ after: page.body.nextCursor }).set(t.auth(owner)).expect(400);
      expect(response.body.code).toBe('INVALID_CURSOR');
    });

    it('answers 404 to another user, and for an archived conversation still serves history to its owner', async () => {
      await t.http().get(messagesOf(id)).set(t.auth('snoop')).expect(404);
      const archived = await newConversation(t, owner);
      await t.http().post(messagesOf(archived)).set(t.auth(owner)).send({ reply: false, content: 'before archiving' }).expect(201);
      await t.http().delete(`/api/v1/chat/conversations/${archived}`).set(t.auth(owner)).expect(204);
      const response = await t.http().get(messagesOf(archived)).set(t.auth(owner)).expect(200);
      expect(response.body.items.map((item: { content: string }) => item.content)).toEqual(['before archiving']);
    });
  });

  describe('DELETE /conversations/:id/messages/:messageId', () => {
    it('deletes the owner’s message and gives its slot back', async () => {
      const id = await newConversation(t, 'eraser');
      const first = await t.http().post(messagesOf(id)).set(t.auth('eraser')).send({ reply: false, content: 'keep me' }).expect(201);
      const second = await t
        .http()
        .post(messagesOf(id))
        .set(t.auth('eraser'))
        .send({ reply: false, content: 'typo, delete me' })
        .expect(201);
      await t
        .http()
        .delete(`${messagesOf(id)}/${second.body.userMessage.id}`)
        .set(t.auth('someone-else'))
        .expect(404);
      await t
        .http()
        .delete(`${messagesOf(id)}/${second.body.userMessage.id}`)
        .set(t.auth('eraser'))
        .expect(204);
      await t
        .http()
        .delete(`${messagesOf(id)}/${second.body.userMessage.id}`)
        .set(t.auth('eraser'))
        .expect(404);
      await t
        .http()
        .delete(`${messagesOf(id)}/not-an-id`)
        .set(t.auth('eraser'))
        .expect(400);

      const history = await t.http().get(messagesOf(id)).set(t.auth('eraser')).expect(200);
      expect(history.body.items.map((message: { content: string }) => message.content)).toEqual(['keep me']);
      const conversation = await t.http().get(`/api/v1/chat/conversations/${id}`).set(t.auth('eraser')).expect(200);
      expect(conversation.body).toMatchObject({ messageCount: 1, lastMessageAt: first.body.userMessage.timestamp });
    });

    it('refuses to delete a reply that is still being written', async () => {
      const id = await newConversation(t, 'impatient');
      const turn = await t.http().post(messagesOf(id)).set(t.auth('impatient')).send({ content: 'Short pick at 4-12' }).expect(201);
      // As it is while the provider is still streaming.
      await t.db.collection('chat_messages').updateOne({ userId: 'impatient', type: 'assistant' }, { $set: { status: 'pending' } });
      const refused = await t
        .http()
        .delete(`${messagesOf(id)}/${turn.body.assistantMessage.id}`)
        .set(t.auth('impatient'))
        .expect(409);
      expect(refused.body.code).toBe('REPLY_IN_PROGRESS');
    });
  });
});
