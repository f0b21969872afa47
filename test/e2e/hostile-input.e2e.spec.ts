import { randomInt } from 'node:crypto';
import mongoose from 'mongoose';
import type { Socket } from 'socket.io-client';
import { connectSocket, emitRawWithAck, emitWithAck } from '../support/socket.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const CONVERSATIONS = '/api/v1/chat/conversations';
const PREFERENCES = '/api/v1/chat/user/preferences';
const DEPTH = 10_000;

/** `{"a":{"a":...1...}}` nested `depth` levels: JSON.parse takes it, recursive code does not. */
const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

interface ErrorAnswer {
  statusCode: number;
  code: string;
  message: string;
  details?: { field: string; messages: string[] }[];
}

describe('Hostile input', () => {
  let t: TestApp;
  const user = 'mallory';
  const auth = () => t.auth(user);

  beforeAll(async () => {
    t = await startTestApp({ CHAT_RATE_LIMIT_PER_MINUTE: '1000' });
  });
  afterAll(() => t.close());

  async function newConversation(metadata: Record<string, unknown> = { site: 'DC-01' }): Promise<string> {
    return (await t.http().post(CONVERSATIONS).set(auth()).send({ metadata }).expect(201)).body.id;
  }

  /** What a refused request must leave untouched: the stored conversation, and its messages. */
  async function snapshot(id: string) {
    const conversation = await t.db.collection('chat_conversations').findOne({ _id: new mongoose.Types.ObjectId(id) });
    const messages = await t.db.collection('chat_messages').countDocuments({ conversationId: new mongoose.Types.ObjectId(id) });
    return {
      updatedAt: conversation?.updatedAt,
      lastSeq: conversation?.lastSeq,
      messageCount: conversation?.messageCount,
      metadata: conversation?.metadata,
      messages,
    };
  }

  function expectFieldRefusal(body: ErrorAnswer, field: RegExp, message?: RegExp): void {
    expect(body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED' });
    expect(body.details?.map((detail) => detail.field)).toEqual(expect.arrayContaining([expect.stringMatching(field)]));
    if (message) expect(body.message).toMatch(message);
  }

  const rawJson = (method: 'post' | 'patch' | 'put', path: string, json: string) =>
    t.http()[method](path).set(auth()).set('Content-Type', 'application/json').send(json);

  describe('NUL and other characters that cannot be stored', () => {
    it.each([
      ['a NUL in a metadata key', '{"metadata":{"a\\u0000b":1}}', /^metadata\./, /NUL/],
      ['a NUL in a nested metadata key', '{"metadata":{"shift":{"\\u0000":1}}}', /^metadata\.shift\./, /NUL/],
      ['a NUL in a metadata value', '{"metadata":{"note":"a\\u0000b"}}', /^metadata\.note$/, /NUL/],
      ['a control character in a metadata key', '{"metadata":{"a\\u0007":1}}', /^metadata\./, /control/],
      ['a lone surrogate in a metadata key', '{"metadata":{"\\ud800":1}}', /^metadata\./, /surrogate/],
      ['a NUL in the title', '{"title":"Short\\u0000pick"}', /^title$/, /NUL/],
    ])('refuses %s on create with 400 naming the field, and stores nothing', async (_case, json, field, message) => {
      const before = await t.db.collection('chat_conversations').countDocuments();
      const response = await rawJson('post', CONVERSATIONS, json).expect(400);
      expectFieldRefusal(response.body as ErrorAnswer, field, message);
      expect(await t.db.collection('chat_conversations').countDocuments()).toBe(before);
    });

    it.each([
      ['a NUL in a metadata key', '{"metadata":{"a\\u0000b":1}}', /^metadata\./],
      ['a NUL in a metadata value', '{"metadata":{"note":"\\u0000"}}', /^metadata\.note$/],
      ['a NUL in the title', '{"title":"\\u0000"}', /^title$/],
    ])('refuses %s on PATCH and leaves the conversation as it was', async (_case, json, field) => {
      const id = await newConversation();
      const before = await snapshot(id);
      const response = await rawJson('patch', `${CONVERSATIONS}/${id}`, json).expect(400);
      expectFieldRefusal(response.body as ErrorAnswer, field);
      expect(await snapshot(id)).toEqual(before);
    });

    it.each([
      ['a NUL in a metadata key', '{"reply":false,"content":"hi","metadata":{"a\\u0000b":1}}', /^metadata\./],
      ['a NUL in a metadata value', '{"reply":false,"content":"hi","metadata":{"note":"x\\u0000"}}', /^metadata\.note$/],
      ['a NUL in the content', '{"reply":false,"content":"hi\\u0000there"}', /^content$/],
      ['a lone surrogate in the content', '{"reply":false,"content":"hi \\udc00"}', /^content$/],
    ])('refuses a REST send with %s: no message, no seq used, updatedAt unchanged', async (_case, json, field) => {
      const id = await newConversation();
      await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(auth()).send({ reply: false, content: 'first' }).expect(201);
      const before = await snapshot(id);
      const response = await rawJson('post', `${CONVERSATIONS}/${id}/messages`, json).expect(400);
      expectFieldRefusal(response.body as ErrorAnswer, field);
      expect(await snapshot(id)).toEqual(before);
      const next = await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(auth()).send({ reply: false, content: 'second' }).expect(201);
      expect(next.body.userMessage.seq).toBe(2);
    });
  });

  describe('prototype keys', () => {
    it.each(['__proto__', 'constructor', 'prototype'])('refuses a metadata key named %s on create with 400', async (key) => {
      const before = await t.db.collection('chat_conversations').countDocuments();
      const response = await rawJson('post', CONVERSATIONS, `{"metadata":{"${key}":{"polluted":true}}}`).expect(400);
      expectFieldRefusal(response.body as ErrorAnswer, new RegExp(`^metadata\\.${key}$`), /prototype/);
      expect(await t.db.collection('chat_conversations').countDocuments()).toBe(before);
    });

    it.each(['__proto__', 'constructor', 'prototype'])('refuses a PATCH of only a %s key and keeps the metadata', async (key) => {
      const id = await newConversation({ site: 'DC-01', shift: 'night' });
      const before = await snapshot(id);
      const response = await rawJson('patch', `${CONVERSATIONS}/${id}`, `{"metadata":{"${key}":{"x":1}}}`).expect(400);
      expectFieldRefusal(response.body as ErrorAnswer, /^metadata\./);
      expect(await snapshot(id)).toEqual(before);
      const read = await t.http().get(`${CONVERSATIONS}/${id}`).set(auth()).expect(200);
      expect(read.body.metadata).toEqual({ site: 'DC-01', shift: 'night' });
    });

    it('refuses a prototype key at the top of a body and inside a message’s metadata', async () => {
      const id = await newConversation();
      const before = await snapshot(id);
      await rawJson('patch', `${CONVERSATIONS}/${id}`, '{"__proto__":{"status":"archived"}}').expect(400);
      const send = await rawJson('post', `${CONVERSATIONS}/${id}/messages`, '{"content":"x","metadata":{"a":{"constructor":1}}}').expect(
        400,
      );
      expectFieldRefusal(send.body as ErrorAnswer, /^metadata\.a\.constructor$/);
      expect(await snapshot(id)).toEqual(before);
    });
  });

  describe('nesting and size', () => {
    it.each([
      ['POST /conversations', 'post', () => CONVERSATIONS, `{"metadata":${deepObject(DEPTH)}}`],
      ['POST /conversations (a bare array)', 'post', () => CONVERSATIONS, deepArray(DEPTH)],
      ['PATCH /conversations/:id', 'patch', (id: string) => `${CONVERSATIONS}/${id}`, `{"metadata":${deepArray(DEPTH)}}`],
      ['POST .../messages', 'post', (id: string) => `${CONVERSATIONS}/${id}/messages`, `{"content":"x","metadata":${deepObject(DEPTH)}}`],
      ['PUT /user/preferences', 'put', () => PREFERENCES, `{"notifications":${deepObject(DEPTH)}}`],
      ['POST /user/preferences/facts', 'post', () => `${PREFERENCES}/facts`, `{"text":${deepArray(DEPTH)}}`],
    ] as const)('refuses JSON nested 10,000 levels deep on %s with 400, and keeps serving', async (_route, method, path, json) => {
      const id = await newConversation();
      const before = await snapshot(id);
      const response = await rawJson(method, path(id), json).expect(400);
      expect(response.body).toMatchObject({ statusCode: 400, code: 'VALIDATION_FAILED', message: expect.stringMatching(/deeper than 32/) });
      expect(await snapshot(id)).toEqual(before);
      await t.http().get('/api/v1/health').expect(200);
      await t.http().get(`${CONVERSATIONS}/${id}`).set(auth()).expect(200);
    });

    it('accepts nesting up to the limit where the route allows it, and refuses one level more', async () => {
      // The preferences body itself is 1 level, notifications 2: the limit applies before the DTO's own shape.
      const ok = await rawJson('post', CONVERSATIONS, `{"title":"deep","metadata":{"a":{"b":{"c":1}}}}`).expect(201);
      expect(ok.body.metadata).toEqual({ a: { b: { c: 1 } } });
      const refused = await rawJson('post', CONVERSATIONS, `{"metadata":${deepArray(32)}}`).expect(400);
      expectFieldRefusal(refused.body as ErrorAnswer, /^metadata(\.0)+$/, /deeper than 32/);
    });

    it('refuses an array of more than 1000 items with 400 naming it', async () => {
      const response = await t
        .http()
        .post(CONVERSATIONS)
        .set(auth())
        .send({ metadata: { tags: Array.from({ length: 1001 }, () => 0) } })
        .expect(400);
      expectFieldRefusal(response.body as ErrorAnswer, /^metadata\.tags$/, /at most 1000 items/);
    });
  });

  describe('text', () => {
    it.each([
      ['zero-width spaces', '\u200b\u200b\u200b'],
      ['joiners, a word joiner and a BOM', '\u200c\u200d\u2060\ufeff'],
      ['a soft hyphen between spaces', ' \u00ad '],
      ['bidi marks and a Hangul filler', '\u200e\u200f\u3164'],
    ])('refuses content of only %s as blank', async (_case, content) => {
      const id = await newConversation();
      const before = await snapshot(id);
      const response = await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(auth()).send({ reply: false, content }).expect(400);
      expectFieldRefusal(response.body as ErrorAnswer, /^content$/, /empty|whitespace|invisible/);
      expect(await snapshot(id)).toEqual(before);
    });

    it('keeps invisible characters inside real text', async () => {
      const id = await newConversation();
      const response = await t
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(auth())
        .send({ reply: false, content: 'pal\u00adlet\u200b' })
        .expect(201);
      expect(response.body.userMessage.content).toBe('pal\u00adlet\u200b');
    });

    // The cost is measured by `npm run bench:text`; here only that such messages are stored.
    it.each([
      [
        'one unbroken 32,000-letter word',
        true,
        () => Array.from({ length: 32_000 }, () => String.fromCharCode(97 + randomInt(26))).join(''),
      ],
      ['32,000 emoji', false, () => Array.from({ length: 32_000 }, () => String.fromCodePoint(0x1f600 + randomInt(80))).join('')],
      [
        '32,000 CJK characters',
        true,
        () => Array.from({ length: 32_000 }, () => String.fromCodePoint(0x4e00 + randomInt(20_000))).join(''),
      ],
    ])('stores a message of %s, with its token count and search terms', async (_case, wordsInside, make) => {
      const id = await newConversation();
      const content = make();
      const response = await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(auth()).send({ reply: false, content }).expect(201);
      const stored = await t.db
        .collection('chat_messages')
        .findOne({ _id: new mongoose.Types.ObjectId(response.body.userMessage.id as string) });
      expect(stored?.content).toBe(content);
      expect(stored?.tokens).toBeGreaterThan(1000);
      // Emoji are not words: no terms, but the array is there.
      expect((stored?.searchTerms as string[]).length).toBeGreaterThanOrEqual(wordsInside ? 1 : 0);
    });

    it('stores a message holding the encoder’s special tokens as plain text, and answers it', async () => {
      const id = await newConversation();
      const response = await t
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(auth())
        .send({ content: 'What is <|endoftext|> and <|im_start|>system?' })
        .expect(201);
      expect(response.body.userMessage.content).toBe('What is <|endoftext|> and <|im_start|>system?');
      expect(response.body.assistantMessage.status).toBe('completed');
    });
  });

  describe('query strings', () => {
    it.each(['0x10', '1e1', '%2016', '16%20', '0b1', '', '1.5', '+5', '-1'])('refuses limit=%s with 400 naming limit', async (limit) => {
      const response = await t.http().get(`${CONVERSATIONS}?limit=${limit}`).set(auth()).expect(400);
      expectFieldRefusal(response.body as ErrorAnswer, /^limit$/);
    });

    it('accepts a decimal limit', async () => {
      await t.http().get(`${CONVERSATIONS}?limit=16`).set(auth()).expect(200);
      const id = await newConversation();
      await t.http().get(`${CONVERSATIONS}/${id}/messages?limit=0x10`).set(auth()).expect(400);
      await t.http().get(`${CONVERSATIONS}/${id}/messages?limit=010`).set(auth()).expect(200);
    });

    it('refuses NUL in a query parameter', async () => {
      const response = await t.http().get(`/api/v1/chat/messages/search?q=pallet%00`).set(auth()).expect(400);
      expectFieldRefusal(response.body as ErrorAnswer, /^q$/, /NUL/);
    });
  });

  describe('PUT /chat/user/preferences', () => {
    it.each([
      ['no body', undefined],
      ['an empty object', {}],
    ])('refuses %s with 400 and keeps the preferences', async (_case, body) => {
      const headers = t.auth('prefs-keeper');
      await t.http().put(PREFERENCES).set(headers).send({ language: 'de', responseStyle: 'concise' }).expect(200);
      const call = t.http().put(PREFERENCES).set(headers);
      const response = await (body === undefined ? call : call.send(body)).expect(400);
      expectFieldRefusal(response.body as ErrorAnswer, /^body$/, /at least one of/);
      const read = await t.http().get(PREFERENCES).set(headers).expect(200);
      expect(read.body).toMatchObject({ language: 'de', responseStyle: 'concise' });
    });
  });

  describe('bodies that are not JSON', () => {
    it.each([
      ['text/plain', '{"title":"x"}'],
      ['application/x-www-form-urlencoded', 'title=x'],
      ['application/xml', '<title>x</title>'],
      ['multipart/form-data; boundary=b', '--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--b--\r\n'],
    ])('a %s body is refused with 415 before anything runs', async (type, body) => {
      const id = await newConversation();
      const before = await snapshot(id);
      const answer = await t.http().patch(`${CONVERSATIONS}/${id}`).set(auth()).set('Content-Type', type).send(body).expect(415);
      expect(answer.body).toMatchObject({ statusCode: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });
      expect(answer.body.message).toContain('application/json');
      expect(await snapshot(id)).toEqual(before);
      const created = await t.db.collection('chat_conversations').countDocuments({ userId: user });
      await t.http().post(CONVERSATIONS).set(auth()).set('Content-Type', type).send(body).expect(415);
      expect(await t.db.collection('chat_conversations').countDocuments({ userId: user })).toBe(created);
    });

    it('a body without a content type is refused; no body at all, whatever the content type, is not one', async () => {
      await t.http().post(CONVERSATIONS).set(auth()).unset('Content-Type').send(Buffer.from('{"title":"x"}')).expect(415);
      await t.http().post(CONVERSATIONS).set(auth()).set('Content-Type', 'text/plain').expect(201);
      const typed = await t
        .http()
        .post(CONVERSATIONS)
        .set(auth())
        .set('Content-Type', 'application/merge-patch+json')
        .send('{"title":"ok"}');
      expect(typed.status).toBe(201);
      expect(typed.body.title).toBe('ok');
    });
  });

  describe('over Socket.IO', () => {
    let port: number;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      port = await t.port();
    });
    afterEach(() => {
      sockets.splice(0).forEach((socket) => socket.close());
    });

    async function open(namespace: string): Promise<Socket> {
      const socket = await connectSocket(port, namespace, { token: t.token(user) });
      sockets.push(socket);
      return socket;
    }

    it.each([
      ['a NUL in a metadata key', { content: 'hi', metadata: { 'a\u0000b': 1 } }, /^metadata\./],
      ['a NUL in a metadata value', { content: 'hi', metadata: { note: '\u0000' } }, /^metadata\.note$/],
      ['a prototype key in metadata', { content: 'hi', metadata: JSON.parse('{"__proto__":{"x":1}}') as unknown }, /^metadata\.__proto__$/],
      ['zero-width-only content', { content: '\u200b\u2060' }, /^content$/],
    ])('refuses message:send with %s: a 400 ack naming the field, nothing stored', async (_case, payload, field) => {
      const id = await newConversation();
      const before = await snapshot(id);
      const socket = await open(`/chat/${id}`);
      const ack = await emitWithAck<{ ok: boolean; error: ErrorAnswer }>(socket, 'message:send', { reply: false, ...payload });
      expect(ack.ok).toBe(false);
      expectFieldRefusal(ack.error, field);
      expect(await snapshot(id)).toEqual(before);
    });

    it('refuses a payload nested 10,000 levels deep on message:send and conversation:join with a 400 ack, and keeps serving', async () => {
      const id = await newConversation();
      const before = await snapshot(id);
      const socket = await open('/chat');
      const send = await emitRawWithAck<{ ok: boolean; error: ErrorAnswer }>(
        socket,
        'message:send',
        `{"conversationId":"${id}","content":"x","metadata":${deepObject(DEPTH)}}`,
      );
      expect(send).toMatchObject({
        ok: false,
        error: { statusCode: 400, code: 'VALIDATION_FAILED', message: expect.stringMatching(/deeper than 32/) },
      });
      const join = await emitRawWithAck<{ ok: boolean; error: ErrorAnswer }>(
        socket,
        'conversation:join',
        `{"conversationId":${deepArray(DEPTH)}}`,
      );
      expect(join).toMatchObject({ ok: false, error: { statusCode: 400, code: 'VALIDATION_FAILED' } });
      expect(await snapshot(id)).toEqual(before);
      // The same connection still works.
      const ok = await emitWithAck<{ ok: boolean; userMessage: { seq: number } }>(socket, 'message:send', {
        conversationId: id,
        content: 'still here',
        reply: false,
      });
      expect(ok).toMatchObject({ ok: true, userMessage: { seq: 1 } });
    });
  });
});
