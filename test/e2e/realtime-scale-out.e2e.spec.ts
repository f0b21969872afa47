import { randomBytes } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { FakeOpenAiServer } from '../support/fake-openai-server.js';
import { startRedis } from '../support/redis-server.js';
import { framesOf, openPlain } from '../support/plain-websocket.js';
import { connectSocket, recorder } from '../support/socket.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const CONVERSATIONS = '/api/v1/chat/conversations';

/**
 * Two app instances sharing one store and one Redis: what happens on one reaches sockets on the
 * other. Needs redis-server on PATH (.ci/run installs it).
 */
describe('Realtime across two instances with Redis', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let a: TestApp;
  let b: TestApp;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    if (!redis) throw new Error('redis-server is not installed: apt-get install -y redis-server (.ci/run does)');
    const shared = { REDIS_URL: redis.url, PLAYBOOK_CHUNK_DELAY_MS: '5' };
    const dbName = `test_scale_${randomBytes(5).toString('hex')}`;
    a = await startTestApp(shared, { dbName });
    b = await startTestApp(shared, { dbName });
  });
  afterAll(async () => {
    sockets.forEach((socket) => socket.close());
    await b?.app.close();
    await a?.close();
    await redis?.stop();
  });

  it('delivers a message posted on instance A to a socket on instance B, and a reply streamed on A in order', async () => {
    const id = (await a.http().post(CONVERSATIONS).set(a.auth('roamer')).send({}).expect(201)).body.id;
    const onB = await connectSocket(await b.port(), `/chat/${id}`, { token: b.token('roamer') });
    sockets.push(onB);
    const lobbyOnB = await connectSocket(await b.port(), '/chat', { token: b.token('roamer') });
    sockets.push(lobbyOnB);
    const log = recorder(onB);

    const turn = await a
      .http()
      .post(`${CONVERSATIONS}/${id}/messages`)
      .set(a.auth('roamer'))
      .send({ content: 'short pick', stream: true })
      .expect(202);
    await log.waitFor((events) => events.some(([name]) => name === 'message:completed'));

    const created = log.events
      .filter(([name]) => name === 'message:created')
      .map(([, payload]) => (payload as { message: { id: string } }).message.id);
    expect(created).toEqual([turn.body.userMessage.id, turn.body.assistantMessage.id]);
    const deltas = log.events.filter(([name]) => name === 'message:delta').map(([, payload]) => payload as { index: number; text: string });
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((delta) => delta.index)).toEqual(deltas.map((_, index) => index));
    const completed = log.events.find(([name]) => name === 'message:completed')![1] as { message: { content: string } };
    expect(deltas.map((delta) => delta.text).join('')).toBe(completed.message.content);

    await recorder(lobbyOnB).waitFor((events) => events.some(([name]) => name === 'notification'));
  });

  it('delivers to a plain WebSocket on B what is posted on A, and a message sent over it on B streams its reply to a socket on A', async () => {
    const id = (await a.http().post(CONVERSATIONS).set(a.auth('plain-roamer')).send({}).expect(201)).body.id;
    const plainOnB = await openPlain(await b.port(), `/ws/chat/${id}`, { headers: { authorization: `Bearer ${b.token('plain-roamer')}` } });
    const onA = await connectSocket(await a.port(), `/chat/${id}`, { token: a.token('plain-roamer') });
    sockets.push(onA);
    try {
      const posted = await a
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(a.auth('plain-roamer'))
        .send({ content: 'from A', reply: false })
        .expect(201);
      await plainOnB.waitFor(() => framesOf(plainOnB, 'message:created').length === 1);
      expect(framesOf<{ message: { id: string } }>(plainOnB, 'message:created')[0]!.message.id).toBe(posted.body.userMessage.id);

      const ack = await plainOnB.request<{ ok: boolean; assistantMessage: { id: string } }>('message:send', { content: 'short pick' });
      expect(ack.ok).toBe(true);
      await recorder(onA).waitFor((events) =>
        events.some(
          ([name, payload]) =>
            name === 'message:completed' && (payload as { message: { id: string } }).message.id === ack.assistantMessage.id,
        ),
      );
    } finally {
      plainOnB.close();
    }
  });
});

/**
 * Limits and order that must hold for the whole deployment, not per instance: the send budget
 * (CHAT_RATE_LIMIT_PER_MINUTE), the per-user connection cap over both protocols, and replies
 * produced in order when a conversation's messages arrive on different instances.
 */
describe('Limits and reply order across two instances with Redis', () => {
  const API = '/api/v1/chat';
  const AGENT = 'scale-out-llm';
  const llm = new FakeOpenAiServer();
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    if (!redis) throw new Error('redis-server is not installed: apt-get install -y redis-server (.ci/run does)');
    const shared = {
      REDIS_URL: redis.url,
      LLM_BASE_URL: await llm.start(),
      LLM_MAX_RETRIES: '0',
      CHAT_RATE_LIMIT_PER_MINUTE: '4',
      WEBSOCKET_MAX_CONNECTIONS_PER_USER: '2',
    };
    const dbName = `test_scale_limits_${randomBytes(5).toString('hex')}`;
    a = await startTestApp(shared, { dbName });
    await a
      .http()
      .post(`${API}/agents`)
      .set(a.auth('root', ['admin']))
      .send({
        key: AGENT,
        name: 'Scale out',
        allowedRoles: ['warehouse_operator'],
        systemPrompt: 'Answer briefly.',
        provider: 'openai-compatible',
      })
      .expect(201);
    b = await startTestApp(shared, { dbName });
  });
  afterAll(async () => {
    await b?.app.close();
    await a?.close();
    await redis?.stop();
    await llm.stop();
  });

  it('produces the replies of one conversation in order when its messages arrive on different instances', async () => {
    const id = (await a.http().post(CONVERSATIONS).set(a.auth('orderly')).send({ agentKey: AGENT }).expect(201)).body.id;
    llm.requests.length = 0;
    llm.reply({ chunks: ['Answer A'], delayMs: 400 }, { chunks: ['Answer B'] });
    const messages = `${CONVERSATIONS}/${id}/messages`;
    await a.http().post(messages).set(a.auth('orderly')).send({ content: 'Question A', stream: true }).expect(202);
    await b.http().post(messages).set(b.auth('orderly')).send({ content: 'Question B', stream: true }).expect(202);

    let history: { seq: number; type: string; content: string; status: string }[] = [];
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((wake) => setTimeout(wake, 50))) {
      history = (await a.http().get(messages).set(a.auth('orderly')).expect(200)).body.items;
      if (history.length === 4 && history.every((message) => message.status !== 'pending')) break;
    }
    expect(history.map((message) => `${message.seq}:${message.type}:${message.content}`)).toEqual([
      '1:user:Question A',
      '2:assistant:Answer A',
      '3:user:Question B',
      '4:assistant:Answer B',
    ]);
    expect(llm.requests).toHaveLength(2);
    // The second reply, written by instance B, saw the first one, written by A.
    expect(llm.requests[1]!.body.messages.slice(1)).toEqual([
      { role: 'user', content: 'Question A' },
      { role: 'assistant', content: 'Answer A' },
      { role: 'user', content: 'Question B' },
    ]);
  });

  it('spends one send budget across instances', async () => {
    const id = (await a.http().post(CONVERSATIONS).set(a.auth('spender')).send({}).expect(201)).body.id;
    const send = (app: TestApp, content: string) =>
      app.http().post(`${CONVERSATIONS}/${id}/messages`).set(app.auth('spender')).send({ content, reply: false });
    for (const [app, content] of [
      [a, 'one'],
      [b, 'two'],
      [a, 'three'],
      [b, 'four'],
    ] as const)
      await send(app, content).expect(201);
    for (const app of [a, b]) {
      const refused = await send(app, 'five').expect(429);
      expect(refused.body.code).toBe('RATE_LIMITED');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect((await a.http().get(`${CONVERSATIONS}/${id}/messages`).set(a.auth('spender')).expect(200)).body.items).toHaveLength(4);
  });

  it('holds the per-user connection cap over both instances and both protocols, and frees a slot when a connection closes', async () => {
    const onA = await connectSocket(await a.port(), '/chat', { token: a.token('capped') });
    const plainOnB = await openPlain(await b.port(), '/ws/chat', { headers: { authorization: `Bearer ${b.token('capped')}` } });
    try {
      await expect(connectSocket(await b.port(), '/chat', { token: b.token('capped') })).rejects.toThrow(/Too many connections/);
      await expect(
        openPlain(await a.port(), '/ws/chat', { headers: { authorization: `Bearer ${a.token('capped')}` } }),
      ).rejects.toMatchObject({ status: 429, body: { code: 'RATE_LIMITED' } });

      onA.close();
      let reopened: Socket | undefined;
      for (const deadline = Date.now() + 5000; !reopened && Date.now() < deadline;) {
        reopened = await connectSocket(await b.port(), '/chat', { token: b.token('capped') }).catch(() => undefined);
        if (!reopened) await new Promise((wake) => setTimeout(wake, 50));
      }
      expect(reopened?.connected).toBe(true);
      reopened?.close();
    } finally {
      onA.close();
      plainOnB.close();
    }
  });
});
