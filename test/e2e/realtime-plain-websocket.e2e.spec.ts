import jwt from 'jsonwebtoken';
import type { Socket } from 'socket.io-client';
import { type PlainClient, UpgradeRefused, framesOf, openPlain } from '../support/plain-websocket.js';
import { connectSocket, emitWithAck, recorder } from '../support/socket.js';
import { TEST_JWT_SECRET, TestApp, startTestApp } from '../support/test-app.js';

const CONVERSATIONS = '/api/v1/chat/conversations';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Ack {
  ok: boolean;
  error?: { statusCode: number; code: string; message: string };
  userMessage?: { id: string; seq: number };
  assistantMessage?: { id: string; seq: number; status: string };
}

describe('Realtime over a plain WebSocket (/ws/chat/<id>)', () => {
  let t: TestApp;
  let port: number;
  const clients: PlainClient[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startTestApp({ PLAYBOOK_CHUNK_DELAY_MS: '5', WEBSOCKET_MAX_CONNECTIONS_PER_USER: '3' });
    port = await t.port();
  });
  afterEach(() => {
    clients.splice(0).forEach((client) => client.close());
    sockets.splice(0).forEach((socket) => socket.close());
  });
  afterAll(() => t.close());

  async function open(path: string, user: string): Promise<PlainClient> {
    const client = await openPlain(port, path, { headers: { authorization: `Bearer ${t.token(user)}` } });
    clients.push(client);
    return client;
  }

  async function conversation(user: string): Promise<string> {
    return (await t.http().post(CONVERSATIONS).set(t.auth(user)).send({}).expect(201)).body.id;
  }

  async function refusal(promise: Promise<unknown>): Promise<UpgradeRefused> {
    const error = await promise.then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(UpgradeRefused);
    return error as UpgradeRefused;
  }

  describe('authentication', () => {
    it('takes the token in an Authorization header and says ready before anything else', async () => {
      const id = await conversation('header-user');
      const client = await open(`/ws/chat/${id}`, 'header-user');
      await client.waitFor((frames) => frames.length > 0);
      expect(client.frames[0]).toEqual({
        event: 'ready',
        data: { connectionId: expect.any(String), conversationId: id, heartbeatIntervalSeconds: 30 },
      });
    });

    it('takes it as a bearer.<token> subprotocol beside wms-chat.v1, which is the one chosen', async () => {
      const id = await conversation('protocol-user');
      const client = await openPlain(port, `/ws/chat/${id}`, { protocols: ['wms-chat.v1', `bearer.${t.token('protocol-user')}`] });
      clients.push(client);
      expect(client.ws.protocol).toBe('wms-chat.v1');
      await client.waitFor((frames) => frames.some((frame) => frame.event === 'ready'));
    });

    it('takes it in a first auth frame, and closes a connection that sends none within 5 s (4408)', async () => {
      const id = await conversation('frame-user');
      const client = await openPlain(port, `/ws/chat/${id}`);
      clients.push(client);
      client.send({ event: 'auth', data: { token: t.token('frame-user') } });
      await client.waitFor((frames) => frames.some((frame) => frame.event === 'ready'));

      const silent = await openPlain(port, `/ws/chat/${id}`);
      const started = Date.now();
      expect(await silent.closed).toMatchObject({ code: 4408 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(4500);
    }, 10_000);

    it('answers a refused handshake with the HTTP status and the API’s error body, before upgrading', async () => {
      const id = await conversation('owner');
      const forged = jwt.sign({ sub: 'x' }, 'another-secret-another-secret-another', { expiresIn: 60 });
      expect((await refusal(openPlain(port, `/ws/chat/${id}`, { headers: { authorization: `Bearer ${forged}` } }))).body).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        code: 'UNAUTHORIZED',
        message: expect.stringMatching(/invalid/),
      });
      const inQuery = await refusal(openPlain(port, `/ws/chat/${id}?token=${t.token('owner')}`));
      expect(inQuery.status).toBe(401);
      expect(inQuery.body.message).toMatch(/not accepted in the query string/);
      for (const path of [`/ws/chat/${id}`, '/ws/chat/0123456789abcdef01234567', '/ws/chat/not-an-id']) {
        const notFound = await refusal(openPlain(port, path, { headers: { authorization: `Bearer ${t.token('intruder')}` } }));
        expect({ status: notFound.status, code: notFound.body.code, message: notFound.body.message }).toEqual({
          status: 404,
          code: 'CONVERSATION_NOT_FOUND',
          message: 'Conversation not found',
        });
      }
    });

    it('refuses a bad auth frame with an error frame and a close code of 4000 + the status', async () => {
      const id = await conversation('owner2');
      const cases: [unknown, number, string][] = [
        [{ event: 'message:send', data: { content: 'hi' } }, 4401, 'UNAUTHORIZED'],
        [{ event: 'auth', data: { token: 'not.a.jwt' } }, 4401, 'UNAUTHORIZED'],
        [{ event: 'auth', data: { token: t.token('intruder') } }, 4404, 'CONVERSATION_NOT_FOUND'],
        [{ event: 'auth', data: { token: t.token('owner2'), since: 'yesterday' } }, 4400, 'VALIDATION_FAILED'],
      ];
      for (const [frame, code, errorCode] of cases) {
        const client = await openPlain(port, `/ws/chat/${id}`);
        client.send(frame);
        expect({ close: (await client.closed).code, error: framesOf<{ code: string }>(client, 'error')[0]?.code }).toEqual({
          close: code,
          error: errorCode,
        });
      }
    });

    it('answers plain HTTP on the endpoint with 426 Upgrade Required', async () => {
      const id = await conversation('curious');
      const answer = await t.http().get(`/ws/chat/${id}`).expect(426);
      expect(answer.body).toEqual({ statusCode: 426, error: 'Upgrade Required', code: 'UPGRADE_REQUIRED', message: expect.any(String) });
    });

    it('counts both protocols against the per-user connection cap', async () => {
      const id = await conversation('busy');
      sockets.push(await connectSocket(port, '/chat', { token: t.token('busy') }));
      sockets.push(await connectSocket(port, `/chat/${id}`, { token: t.token('busy') }));
      await open(`/ws/chat/${id}`, 'busy');
      const refused = await refusal(open(`/ws/chat/${id}`, 'busy'));
      expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 429, code: 'RATE_LIMITED' });
      await expect(connectSocket(port, '/chat', { token: t.token('busy') })).rejects.toThrow(/Too many connections/);
    });

    // JWT expiry has one-second resolution: a 2 s token lives between 1 and 2 s.
    it('says session:expired and closes with 4401 when the token expires', async () => {
      const id = await conversation('brief');
      const client = await openPlain(port, `/ws/chat/${id}`, {
        headers: { authorization: `Bearer ${jwt.sign({ sub: 'brief' }, TEST_JWT_SECRET, { expiresIn: 2 })}` },
      });
      expect((await client.closed).code).toBe(4401);
      expect(client.frames.map((frame) => frame.event)).toContain('session:expired');
    }, 10_000);
  });

  describe('events', () => {
    it('streams a reply posted over REST: the question, the pending reply, deltas in order, completion, typing', async () => {
      const id = await conversation('follower');
      const client = await open(`/ws/chat/${id}`, 'follower');
      const turn = await t
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(t.auth('follower'))
        .send({ content: 'short pick', stream: true })
        .expect(202);
      await client.waitFor((frames) => frames.some((frame) => frame.event === 'message:completed'));

      const created = framesOf<{ message: { id: string } }>(client, 'message:created').map((data) => data.message.id);
      expect(created).toEqual([turn.body.userMessage.id, turn.body.assistantMessage.id]);
      const deltas = framesOf<{ index: number; text: string }>(client, 'message:delta');
      expect(deltas.length).toBeGreaterThan(1);
      expect(deltas.map((delta) => delta.index)).toEqual(deltas.map((_, index) => index));
      const completed = framesOf<{ message: { content: string } }>(client, 'message:completed')[0]!;
      expect(deltas.map((delta) => delta.text).join('')).toBe(completed.message.content);
      expect(framesOf<{ state: string }>(client, 'typing').map((typing) => typing.state)).toEqual(['start', 'stop']);
    });

    it('sends a message with an ack frame carrying the stored messages, or the REST error', async () => {
      const id = await conversation('sender');
      const client = await open(`/ws/chat/${id}`, 'sender');
      const ack = await client.request<Ack>('message:send', { content: 'where is bin A-01?' });
      expect(ack).toMatchObject({ ok: true, userMessage: { seq: 1 }, assistantMessage: { seq: 2, status: 'pending' } });
      await client.waitFor((frames) => frames.some((frame) => frame.event === 'message:completed'));

      expect(await client.request<Ack>('message:send', { content: '   ' })).toMatchObject({
        ok: false,
        error: { statusCode: 400, code: 'VALIDATION_FAILED' },
      });
      const stored = await t.http().get(`${CONVERSATIONS}/${id}/messages`).set(t.auth('sender')).expect(200);
      expect(stored.body.items).toHaveLength(2);
    });

    it('answers bad frames with 400s, as acks when they have an id and error frames when not, and stays open', async () => {
      const id = await conversation('sloppy');
      const client = await open(`/ws/chat/${id}`, 'sloppy');
      client.send('not json');
      client.ws.send(Buffer.from([1, 2, 3]));
      client.send({ event: 'no:such', id: 'x1' });
      client.send({ event: 'message:send', id: 'x2', data: JSON.parse('{"content":"hi","__proto__":{"polluted":true}}') });
      client.send('{"event":"message:send","id":"x3","data":{"content":"hi\\u0000there"}}');
      client.send({ event: 'auth', id: 'x4', data: { token: t.token('sloppy') } });
      await client.waitFor(
        (frames) => frames.filter((frame) => frame.event === 'ack').length === 4 && framesOf(client, 'error').length === 2,
      );
      expect(framesOf<{ statusCode: number }>(client, 'error').map((error) => error.statusCode)).toEqual([400, 400]);
      const acks = client.frames.filter((frame) => frame.event === 'ack');
      for (const ack of acks) expect(ack.data).toMatchObject({ ok: false, error: { statusCode: 400 } });
      expect((acks.find((ack) => ack.id === 'x4')!.data as Ack).error!.message).toBe('Already authenticated');
      expect(client.ws.readyState).toBe(client.ws.OPEN);
      expect((await t.http().get(`${CONVERSATIONS}/${id}/messages`).set(t.auth('sloppy')).expect(200)).body.items).toEqual([]);
    });

    it('carries typing, read receipts and presence between the two protocols, not back to the sender', async () => {
      const id = await conversation('two-devices');
      const phone = await connectSocket(port, `/chat/${id}`, { token: t.token('two-devices') });
      sockets.push(phone);
      const phoneLog = recorder(phone);
      const scanner = await open(`/ws/chat/${id}`, 'two-devices');
      await phoneLog.waitFor((events) =>
        events.some(([name, payload]) => name === 'presence' && (payload as { state: string }).state === 'online'),
      );

      expect(await scanner.request<Ack>('typing:start', {})).toEqual({ ok: true });
      await phoneLog.waitFor((events) => events.some(([name]) => name === 'typing'));
      expect(phoneLog.events.find(([name]) => name === 'typing')![1]).toEqual({ conversationId: id, actor: 'user', state: 'start' });

      const stored = await t
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(t.auth('two-devices'))
        .send({ content: 'note', reply: false })
        .expect(201);
      expect(await scanner.request<Ack>('message:read', { messageId: stored.body.userMessage.id })).toEqual({ ok: true });
      await phoneLog.waitFor((events) => events.some(([name]) => name === 'message:read'));

      expect(await emitWithAck(phone, 'typing:start', { conversationId: id })).toEqual({ ok: true });
      await scanner.waitFor((frames) =>
        frames.some((frame) => frame.event === 'typing' && (frame.data as { actor: string }).actor === 'user'),
      );
      expect(framesOf(scanner, 'message:read')).toEqual([]);
    });

    it('stops a typing indicator by itself 5 s after the last typing:start', async () => {
      const id = await conversation('typist');
      const watcher = await open(`/ws/chat/${id}`, 'typist');
      const typist = await open(`/ws/chat/${id}`, 'typist');
      const started = Date.now();
      expect(await typist.request<Ack>('typing:start', {})).toEqual({ ok: true });
      await watcher.waitFor((frames) => frames.some((frame) => frame.event === 'typing'), 2000);
      await watcher.waitFor(() => framesOf<{ state: string }>(watcher, 'typing').some((typing) => typing.state === 'stop'), 8000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
      expect(framesOf(watcher, 'typing')).toEqual([
        { conversationId: id, actor: 'user', state: 'start' },
        { conversationId: id, actor: 'user', state: 'stop' },
      ]);
    }, 12_000);
  });

  describe('missed-message recovery', () => {
    it('replays what came after since (a seq in the URL, or a message id in the auth frame), after ready, then live traffic', async () => {
      const id = await conversation('returner');
      const posted: { id: string }[] = [];
      for (const content of ['one', 'two', 'three'])
        posted.push(
          (await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(t.auth('returner')).send({ content, reply: false }).expect(201)).body
            .userMessage,
        );

      const bySeq = await openPlain(port, `/ws/chat/${id}?since=1`, { headers: { authorization: `Bearer ${t.token('returner')}` } });
      clients.push(bySeq);
      const byId = await openPlain(port, `/ws/chat/${id}`);
      clients.push(byId);
      byId.send({ event: 'auth', data: { token: t.token('returner'), since: posted[1]!.id } });
      await bySeq.waitFor((frames) => frames.filter((frame) => frame.event === 'message:created').length === 2);
      await byId.waitFor((frames) => frames.filter((frame) => frame.event === 'message:created').length === 1);

      expect(bySeq.frames[0]!.event).toBe('ready');
      expect(framesOf<{ message: { content: string }; replayed: boolean }>(bySeq, 'message:created')).toEqual([
        expect.objectContaining({ replayed: true, message: expect.objectContaining({ content: 'two' }) }),
        expect.objectContaining({ replayed: true, message: expect.objectContaining({ content: 'three' }) }),
      ]);
      expect(byId.frames[0]!.event).toBe('ready');
      expect(framesOf<{ message: { content: string } }>(byId, 'message:created').map((data) => data.message.content)).toEqual(['three']);

      await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(t.auth('returner')).send({ content: 'four', reply: false }).expect(201);
      await bySeq.waitFor((frames) => frames.filter((frame) => frame.event === 'message:created').length === 3);
      expect(framesOf<{ message: { content: string }; replayed?: boolean }>(bySeq, 'message:created')[2]).toMatchObject({
        message: { content: 'four' },
      });
    });

    it('joins further conversations on /ws/chat, with replay, as Socket.IO’s /chat does', async () => {
      const id = await conversation('lobbyist');
      await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(t.auth('lobbyist')).send({ content: 'earlier', reply: false }).expect(201);
      const lobby = await open('/ws/chat', 'lobbyist');
      expect(await lobby.request('conversation:join', { conversationId: id, since: 0 })).toEqual({
        ok: true,
        conversationId: id,
        replayed: 1,
      });
      expect(await lobby.request('conversation:join', { conversationId: await conversation('someone-else') })).toMatchObject({
        ok: false,
        error: { statusCode: 404, code: 'CONVERSATION_NOT_FOUND' },
      });
    });
  });
});

describe('Plain WebSocket limits and heartbeat', () => {
  let t: TestApp;
  let port: number;
  const clients: PlainClient[] = [];

  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: 'https://wms.example', WEBSOCKET_EVENTS_PER_MINUTE: '3', WEBSOCKET_HEARTBEAT_INTERVAL: '1' });
    port = await t.port();
  });
  afterEach(() => {
    clients.splice(0).forEach((client) => client.close());
  });
  afterAll(() => t.close());

  async function open(user: string, options: Parameters<typeof openPlain>[2] = {}): Promise<PlainClient> {
    const client = await openPlain(port, '/ws/chat', {
      ...options,
      headers: { authorization: `Bearer ${t.token(user)}`, ...options.headers },
    });
    clients.push(client);
    return client;
  }

  it('checks a browser’s Origin against CORS_ORIGINS', async () => {
    await open('browser', { headers: { origin: 'https://wms.example' } });
    const refused = await open('browser', { headers: { origin: 'https://evil.example' } }).catch((error: UpgradeRefused) => error);
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect(refused).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
  });

  it('refuses frames past the per-connection rate with RATE_LIMITED acks, keeping the connection', async () => {
    const client = await open('flooder');
    const acks = [];
    for (let i = 0; i < 5; i += 1) acks.push(await client.request<Ack>('conversation:leave', { conversationId: 'bad' }));
    expect(acks.map((ack) => ack.error?.code)).toEqual([
      'VALIDATION_FAILED',
      'VALIDATION_FAILED',
      'VALIDATION_FAILED',
      'RATE_LIMITED',
      'RATE_LIMITED',
    ]);
    expect(client.ws.readyState).toBe(client.ws.OPEN);
  });

  it('closes a connection that sends a frame over 256 KiB with 1009, and keeps serving the others', async () => {
    const bystander = await open('bystander');
    const big = await open('big-sender');
    big.send({ event: 'message:send', data: { content: 'x'.repeat(300 * 1024) } });
    expect((await big.closed).code).toBe(1009);
    expect(await bystander.request<Ack>('conversation:leave', { conversationId: 'bad' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION_FAILED' },
    });
  });

  it('drops a peer that stops answering pings within two heartbeat intervals, and keeps one that answers', async () => {
    const silent = await open('silent', { client: { autoPong: false } });
    const lively = await open('lively');
    const started = Date.now();
    await silent.closed;
    expect(Date.now() - started).toBeLessThan(3000);
    await sleep(2500);
    expect(lively.ws.readyState).toBe(lively.ws.OPEN);
  }, 10_000);
});

describe('Plain WebSocket with ENABLE_WEBSOCKETS=false', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ENABLE_WEBSOCKETS: 'false' });
  });
  afterAll(() => t.close());

  it('is not served', async () => {
    const refused = await openPlain(await t.port(), '/ws/chat', { headers: { authorization: `Bearer ${t.token('nobody')}` } }).catch(
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ status: 404 });
  });
});
