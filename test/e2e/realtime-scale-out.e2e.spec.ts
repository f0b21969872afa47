import { randomBytes } from 'node:crypto';
import type { Socket } from 'socket.io-client';
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
