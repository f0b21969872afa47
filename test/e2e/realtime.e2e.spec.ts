import jwt from 'jsonwebtoken';
import type { Socket } from 'socket.io-client';
import { AuditLog } from '../../src/compliance/audit/audit-log.service.js';
import { connectSocket, emitWithAck, recorder } from '../support/socket.js';
import { TEST_JWT_SECRET, TestApp, startTestApp } from '../support/test-app.js';

const CONVERSATIONS = '/api/v1/chat/conversations';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Realtime over Socket.IO', () => {
  let t: TestApp;
  let port: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startTestApp({ PLAYBOOK_CHUNK_DELAY_MS: '5', WEBSOCKET_MAX_CONNECTIONS_PER_USER: '3' });
    port = await t.port();
  });
  afterEach(() => {
    sockets.splice(0).forEach((socket) => socket.close());
  });
  afterAll(() => t.close());

  async function open(namespace: string, user: string, extra: Record<string, unknown> = {}): Promise<Socket> {
    const socket = await connectSocket(port, namespace, { token: t.token(user), ...extra });
    sockets.push(socket);
    return socket;
  }

  async function conversation(user: string): Promise<string> {
    return (await t.http().post(CONVERSATIONS).set(t.auth(user)).send({}).expect(201)).body.id;
  }

  describe('handshake', () => {
    it.each([
      ['no token', {}, /Missing bearer token/],
      ['a forged token', { token: jwt.sign({ sub: 'x' }, 'another-secret-another-secret-another') }, /invalid/],
      ['an expired token', { token: jwt.sign({ sub: 'x' }, TEST_JWT_SECRET, { expiresIn: -5 }) }, /expired/],
      ['a token that never expires', { token: jwt.sign({ sub: 'x' }, TEST_JWT_SECRET) }, /no expiry/],
      [
        'a token living longer than JWT_MAX_TTL',
        { token: jwt.sign({ sub: 'x' }, TEST_JWT_SECRET, { expiresIn: '30d' }) },
        /lives too long/,
      ],
    ])('refuses %s with a connect_error saying why', async (_case, auth, message) => {
      await expect(connectSocket(port, '/chat', auth)).rejects.toThrow(message);
    });

    it('refuses the default namespace: without a token like the others, and with one as serving nothing', async () => {
      await expect(connectSocket(port, '/', {})).rejects.toThrow(/Missing bearer token/);
      await expect(connectSocket(port, '/', { token: 'not.a.jwt' })).rejects.toThrow(/invalid/);
      await expect(connectSocket(port, '/', { token: t.token('lobby') })).rejects.toThrow(/No such namespace/);
    });

    it('accepts the token in an Authorization header, and refuses it in the query string', async () => {
      const socket = await connectSocket(port, '/chat', {}, { headers: { authorization: `Bearer ${t.token('header-user')}` } });
      sockets.push(socket);
      await expect(connectSocket(port, '/chat', {}, { query: { token: t.token('query-user') } })).rejects.toThrow(
        /not accepted in the query string/,
      );
    });

    it('refuses /chat/<id> for another user’s conversation exactly like a missing one', async () => {
      const id = await conversation('owner');
      await expect(open(`/chat/${id}`, 'intruder')).rejects.toThrow('Conversation not found');
      await expect(open('/chat/0123456789abcdef01234567', 'intruder')).rejects.toThrow('Conversation not found');
    });

    it('limits connections per user', async () => {
      for (let i = 0; i < 3; i += 1) await open('/chat', 'busy');
      await expect(open('/chat', 'busy')).rejects.toThrow(/Too many connections/);
    });

    // JWT expiry has one-second resolution: a 2 s token lives between 1 and 2 s.
    it('disconnects a socket when its token expires', async () => {
      const socket = await connectSocket(port, '/chat', { token: jwt.sign({ sub: 'brief' }, TEST_JWT_SECRET, { expiresIn: 2 }) });
      sockets.push(socket);
      const log = recorder(socket);
      await new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
      expect(log.events.map(([name]) => name)).toContain('session:expired');
    }, 10_000);
  });

  describe('following a conversation', () => {
    it('streams a reply posted over REST to /chat/<id>: the question, the pending reply, deltas in order, completion', async () => {
      const id = await conversation('follower');
      const socket = await open(`/chat/${id}`, 'follower');
      const log = recorder(socket);
      const turn = await t
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(t.auth('follower'))
        .send({ content: 'short pick', stream: true })
        .expect(202);
      await log.waitFor((events) => events.some(([name]) => name === 'message:completed'));

      const names = log.events.map(([name]) => name).filter((name) => name.startsWith('message:'));
      expect(names[0]).toBe('message:created');
      expect(names[1]).toBe('message:created');
      expect(names.at(-1)).toBe('message:completed');
      const deltas = log.events
        .filter(([name]) => name === 'message:delta')
        .map(([, payload]) => payload as { index: number; text: string; messageId: string });
      expect(deltas.map((delta) => delta.index)).toEqual(deltas.map((_, index) => index));
      const completed = log.events.find(([name]) => name === 'message:completed')![1] as { message: { id: string; content: string } };
      expect(completed.message.id).toBe(turn.body.assistantMessage.id);
      expect(deltas.map((delta) => delta.text).join('')).toBe(completed.message.content);
      const typing = log.events
        .filter(([name]) => name === 'typing')
        .map(([, payload]) => (payload as { actor: string; state: string }).state);
      expect(typing).toEqual(['start', 'stop']);
      // The untitled conversation gets its title from the first question.
      await log.waitFor((events) => events.some(([name]) => name === 'conversation:updated'));
      expect(log.events.find(([name]) => name === 'conversation:updated')![1]).toMatchObject({
        conversationId: id,
        conversation: { title: 'Short pick' },
      });
    });

    it('joins and leaves on /chat with acks, and refuses another user’s conversation', async () => {
      const id = await conversation('joiner');
      const socket = await open('/chat', 'joiner');
      expect(await emitWithAck(socket, 'conversation:join', { conversationId: id })).toEqual({ ok: true, conversationId: id, replayed: 0 });
      const log = recorder(socket);
      await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(t.auth('joiner')).send({ content: 'note', reply: false }).expect(201);
      await log.waitFor((events) => events.some(([name]) => name === 'message:created'));
      expect(await emitWithAck(socket, 'conversation:leave', { conversationId: id })).toEqual({ ok: true, conversationId: id });

      const theirs = await conversation('someone-else');
      expect(await emitWithAck(socket, 'conversation:join', { conversationId: theirs })).toMatchObject({
        ok: false,
        error: { statusCode: 404, code: 'CONVERSATION_NOT_FOUND' },
      });
    });

    it('sends a message over the socket with the REST rules, acking the stored messages or an error', async () => {
      const id = await conversation('sender');
      const socket = await open('/chat', 'sender');
      const ack = await emitWithAck<{ ok: boolean; userMessage: { content: string; seq: number }; assistantMessage: { status: string } }>(
        socket,
        'message:send',
        {
          conversationId: id,
          content: 'damaged item',
        },
      );
      expect(ack).toMatchObject({ ok: true, userMessage: { content: 'damaged item', seq: 1 }, assistantMessage: { status: 'pending' } });

      for (const bad of [
        { conversationId: id, content: '' },
        { conversationId: id, content: 'x', type: 'assistant' },
        { conversationId: id, content: { $gt: '' } },
        { conversationId: 'nope', content: 'x' },
        'just a string',
        null,
      ]) {
        const refused = await emitWithAck<{ ok: boolean; error: { statusCode: number; code: string } }>(socket, 'message:send', bad);
        expect(refused).toMatchObject({ ok: false, error: { statusCode: 400, code: 'VALIDATION_FAILED' } });
      }
      expect(socket.connected).toBe(true);
    });

    it('tells the user’s other devices about typing, reads and presence, not the sender', async () => {
      const id = await conversation('twin');
      const phone = await open(`/chat/${id}`, 'twin');
      const phoneLog = recorder(phone);
      const desk = await open(`/chat/${id}`, 'twin');
      await phoneLog.waitFor((events) =>
        events.some(([name, payload]) => name === 'presence' && (payload as { state: string }).state === 'online'),
      );
      const deskLog = recorder(desk);

      expect(await emitWithAck(desk, 'typing:start', {})).toEqual({ ok: true });
      await phoneLog.waitFor((events) => events.some(([name]) => name === 'typing'));
      expect(phoneLog.events.find(([name]) => name === 'typing')![1]).toEqual({ conversationId: id, actor: 'user', state: 'start' });
      expect(await emitWithAck(desk, 'typing:stop', {})).toEqual({ ok: true });
      await phoneLog.waitFor((events) =>
        events.some(([name, payload]) => name === 'typing' && (payload as { state: string }).state === 'stop'),
      );

      const message = (
        await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(t.auth('twin')).send({ content: 'hi', reply: false }).expect(201)
      ).body.userMessage;
      expect(await emitWithAck(desk, 'message:read', { messageId: message.id })).toEqual({ ok: true });
      await phoneLog.waitFor((events) => events.some(([name]) => name === 'message:read'));
      expect(deskLog.events.filter(([name]) => name === 'typing' || name === 'message:read')).toEqual([]);

      desk.close();
      await phoneLog.waitFor((events) =>
        events.some(([name, payload]) => name === 'presence' && (payload as { state: string }).state === 'offline'),
      );
    });

    it('notifies the user’s channel when a reply completes in a conversation the client does not follow', async () => {
      const id = await conversation('notified');
      const lobby = await open('/chat', 'notified');
      const log = recorder(lobby);
      const turn = await t
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(t.auth('notified'))
        .send({ content: 'label printer' })
        .expect(201);
      await log.waitFor((events) => events.some(([name]) => name === 'notification'));
      expect(log.events.find(([name]) => name === 'notification')![1]).toEqual({
        type: 'reply.completed',
        conversationId: id,
        messageId: turn.body.assistantMessage.id,
      });
      expect(log.events.some(([name]) => name === 'message:delta')).toBe(false);
    });
  });

  describe('missed-message recovery', () => {
    it('replays what a client missed while disconnected, in order, then live traffic, with no duplicates or gaps', async () => {
      const id = await conversation('flaky');
      const post = (content: string) =>
        t.http().post(`${CONVERSATIONS}/${id}/messages`).set(t.auth('flaky')).send({ content, reply: false }).expect(201);
      await post('m1');
      const first = await open(`/chat/${id}`, 'flaky');
      const firstLog = recorder(first);
      await post('m2');
      await firstLog.waitFor((events) => events.length > 0);
      const lastSeen = (firstLog.events.filter(([name]) => name === 'message:created').at(-1)![1] as { message: { seq: number } }).message
        .seq;
      first.close();

      await post('m3');
      await post('m4');
      const second = await open(`/chat/${id}`, 'flaky', { since: lastSeen });
      const secondLog = recorder(second);
      const live = Promise.all([post('m5'), post('m6')]);
      await live;
      await secondLog.waitFor((events) => events.filter(([name]) => name === 'message:created').length >= 4);
      await sleep(100);
      const contents = secondLog.events
        .filter(([name]) => name === 'message:created')
        .map(([, payload]) => (payload as { message: { content: string } }).message.content);
      expect(contents.slice(0, 2)).toEqual(['m3', 'm4']);
      expect([...contents].sort()).toEqual(['m3', 'm4', 'm5', 'm6']);
    });

    it('accepts a message id as since, and replays on conversation:join', async () => {
      const id = await conversation('rejoiner');
      const seen = (
        await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(t.auth('rejoiner')).send({ content: 'a', reply: false }).expect(201)
      ).body.userMessage;
      await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(t.auth('rejoiner')).send({ content: 'b', reply: false }).expect(201);
      const socket = await open('/chat', 'rejoiner');
      const log = recorder(socket);
      expect(await emitWithAck(socket, 'conversation:join', { conversationId: id, since: seen.id })).toEqual({
        ok: true,
        conversationId: id,
        replayed: 1,
      });
      expect(log.events).toEqual([
        ['message:created', expect.objectContaining({ replayed: true, message: expect.objectContaining({ content: 'b' }) })],
      ]);
    });
  });
});

describe('With ENABLE_WEBSOCKETS=false', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ENABLE_WEBSOCKETS: 'false' });
  });
  afterAll(() => t.close());

  it('mounts no gateway', async () => {
    await expect(connectSocket(await t.port(), '/chat', { token: t.token('nobody') })).rejects.toThrow();
  });
});

describe('Realtime limits', () => {
  let t: TestApp;
  let port: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: 'https://wms.example', WEBSOCKET_EVENTS_PER_MINUTE: '3' });
    port = await t.port();
  });
  afterEach(() => {
    sockets.splice(0).forEach((socket) => socket.close());
  });
  afterAll(() => t.close());

  async function open(user: string, headers?: Record<string, string>): Promise<Socket> {
    const socket = await connectSocket(port, '/chat', { token: t.token(user) }, { headers });
    sockets.push(socket);
    return socket;
  }

  it('checks a browser’s Origin against CORS_ORIGINS', async () => {
    await open('browser', { origin: 'https://wms.example' });
    await expect(open('browser', { origin: 'https://evil.example' })).rejects.toThrow();
  });

  it('answers an unknown event with a 400 ack, keeping the connection', async () => {
    const socket = await open('curious');
    expect(await emitWithAck(socket, 'no:such', {})).toMatchObject({
      ok: false,
      error: { statusCode: 400, code: 'VALIDATION_FAILED', message: expect.stringMatching(/^Unknown event/) },
    });
    expect(socket.connected).toBe(true);
  });

  it('refuses events past the per-socket rate with RATE_LIMITED acks, keeping the connection', async () => {
    const socket = await open('flooder');
    const acks = [];
    for (let i = 0; i < 5; i += 1)
      acks.push(await emitWithAck<{ ok: boolean; error?: { code: string } }>(socket, 'conversation:leave', { conversationId: 'bad' }));
    expect(acks.slice(3).map((ack) => ack.error?.code)).toEqual(['RATE_LIMITED', 'RATE_LIMITED']);
    expect(socket.connected).toBe(true);
  });

  it('drops a connection that sends an oversized event, and keeps serving the others', async () => {
    const bystander = await open('bystander');
    const big = await open('big-sender');
    const closed = new Promise<void>((resolve) => big.once('disconnect', () => resolve()));
    big.emit('message:send', { content: 'x'.repeat(300 * 1024) });
    await closed;
    expect(bystander.connected).toBe(true);
    expect(await emitWithAck(bystander, 'conversation:leave', { conversationId: 'bad' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION_FAILED' },
    });
  });
});

describe('Missed-message recovery across a server restart', () => {
  it('replays from the store what was posted while the client’s server was down', async () => {
    const dbName = `test_restart_${Date.now().toString(36)}`;
    const before = await startTestApp({}, { dbName });
    const id = (await before.http().post(CONVERSATIONS).set(before.auth('survivor')).send({}).expect(201)).body.id;
    const seen = (
      await before
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(before.auth('survivor'))
        .send({ content: 'before', reply: false })
        .expect(201)
    ).body.userMessage;
    const socket = await connectSocket(await before.port(), `/chat/${id}`, { token: before.token('survivor') });
    const gone = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
    await before.app.close();
    await gone;

    const after = await startTestApp({}, { dbName });
    try {
      await after
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(after.auth('survivor'))
        .send({ content: 'while away', reply: false })
        .expect(201);
      const back = await connectSocket(await after.port(), `/chat/${id}`, { token: after.token('survivor'), since: seen.seq });
      await recorder(back).waitFor((events) => events.length > 0);
      expect(recorder(back).events).toEqual([
        ['message:created', expect.objectContaining({ replayed: true, message: expect.objectContaining({ content: 'while away' }) })],
      ]);
      back.close();
    } finally {
      await after.close();
    }
  });
});

describe('Failed socket authentication', () => {
  const BURST = 3;
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ CHAT_AUTH_FAILURE_BURST: String(BURST) });
  });
  afterAll(() => t.close());

  it('is audited as over HTTP: a burst from one address is one auth.failure-burst entry, never naming the token or the address', async () => {
    const port = await t.port();
    const forged = jwt.sign({ sub: 'mallory' }, 'another-secret-another-secret-another', { expiresIn: '1h' });
    // The test connects from loopback, a trusted proxy (as for HTTP), so X-Forwarded-For names the client.
    const refused = (ip: string, auth: Record<string, unknown>, namespace = '/chat') =>
      expect(connectSocket(port, namespace, auth, { headers: { 'x-forwarded-for': ip } })).rejects.toThrow();
    const bursts = () => t.db.collection('chat_audit_log').find({ action: 'auth.failure-burst' }).toArray();

    // Refusals that are not about the token do not count: a valid token for a conversation that does not exist.
    for (let i = 0; i < 2 * BURST; i += 1) await refused('192.0.2.14', { token: t.token('lost') }, '/chat/665f1c2e9b1d8a0012345678');
    // Below the threshold from one address: nothing. 2 × BURST − 1 failures give exactly one minute with BURST or more.
    for (let i = 0; i < BURST - 1; i += 1) await refused('198.51.100.23', { token: forged });
    for (let i = 0; i < 2 * BURST - 1; i += 1) await refused('203.0.113.50', i % 2 === 0 ? { token: forged } : {});

    const deadline = Date.now() + 10_000;
    while ((await bursts()).length === 0 && Date.now() < deadline) await sleep(50);
    // Failures are counted as they are announced, before the client hears of the refusal: nothing else is on its way.
    const found = await bursts();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      actor: { system: 'auth' },
      subject: null,
      details: {
        ipHash: await t.app.get(AuditLog).ipHash('203.0.113.50'),
        network: '203.0.113.0/24',
        failures: BURST,
        windowSeconds: 60,
      },
    });
    expect(found[0]!.details.reasons).toEqual(expect.arrayContaining([expect.stringMatching(/invalid|Missing bearer token/)]));
    expect(JSON.stringify(found)).not.toContain(forged);
    expect(JSON.stringify(found)).not.toMatch(/203\.0\.113\.50|198\.51\.100|192\.0\.2/);
  });
});
