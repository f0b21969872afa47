import { randomBytes } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { DomainEventBus } from '../../src/common/events/domain-event-bus.js';
import { DomainEvent } from '../../src/common/events/domain-events.js';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import type { UserDataProvider } from '../../src/common/user-data/user-data.js';
import { startRedis } from '../support/redis-server.js';
import { openPlain } from '../support/plain-websocket.js';
import { connectSocket, recorder } from '../support/socket.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const CONVERSATIONS = '/api/v1/chat/conversations';

function realtimeProvider(app: TestApp): UserDataProvider {
  const provider = app.app
    .get(UserDataRegistry)
    .userDataProviders()
    .find((candidate) => candidate.name === 'realtime');
  if (!provider) throw new Error('No realtime user-data provider is registered');
  return provider;
}

function disconnected(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    if (socket.disconnected) resolve('already');
    else socket.once('disconnect', (reason) => resolve(reason));
  });
}

function exportReady(userId: string, exportId: string, subjectUserId = userId) {
  return { userId, exportId, subjectUserId, expiresAt: '2030-01-01T00:00:00.000Z' };
}

describe('Realtime and user data, one instance', () => {
  let t: TestApp;
  const sockets: Socket[] = [];
  const open = async (namespace: string, user: string) => {
    const socket = await connectSocket(await t.port(), namespace, { token: t.token(user) });
    sockets.push(socket);
    return socket;
  };

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    sockets.forEach((socket) => socket.close());
    await t.close();
  });

  it('counts the user’s open sockets, and erasing the user closes every one of them and no one else’s', async () => {
    const id = (await t.http().post(CONVERSATIONS).set(t.auth('ruth')).send({}).expect(201)).body.id;
    const lobby = await open('/chat', 'ruth');
    const following = await open(`/chat/${id}`, 'ruth');
    const other = await open('/chat', 'sam');
    const provider = realtimeProvider(t);
    expect(provider.holdings).toEqual([expect.objectContaining({ store: 'memory:realtime-sockets', userFields: ['user.id'] })]);
    expect(await provider.inventory('ruth')).toEqual({ sockets: 2 });

    const closing = Promise.all([disconnected(lobby), disconnected(following)]);
    expect(await provider.erase('ruth')).toEqual({ sockets: 2 });
    expect(await closing).toEqual(['io server disconnect', 'io server disconnect']);
    expect(await provider.inventory('ruth')).toEqual({ sockets: 0 });
    expect(other.connected).toBe(true);
    expect(await provider.inventory('sam')).toEqual({ sockets: 1 });

    const parts: unknown[] = [];
    for await (const part of provider.export('sam')) parts.push(part);
    expect(parts).toEqual([]);
  });

  it('tells every socket of the user who asked that a data export is ready, and only them', async () => {
    const first = await open('/chat', 'uma');
    const second = await open('/chat', 'uma');
    const stranger = await open('/chat', 'vic');
    const bus = t.app.get(DomainEventBus);
    // Interleaved, so that a misdirected event would arrive before the last one each socket waits for.
    bus.publish(DomainEvent.DataExportReady, exportReady('uma', 'uma-1', 'subject-42'));
    bus.publish(DomainEvent.DataExportReady, exportReady('vic', 'vic-1'));
    bus.publish(DomainEvent.DataExportReady, exportReady('uma', 'uma-2'));
    bus.publish(DomainEvent.DataExportReady, exportReady('vic', 'vic-2'));

    const ready = (socket: Socket) =>
      recorder(socket)
        .events.filter(([name]) => name === 'data-export.ready')
        .map(([, payload]) => payload as { exportId: string });
    for (const socket of [first, second]) {
      await recorder(socket).waitFor(() => ready(socket).some((payload) => payload.exportId === 'uma-2'));
      expect(ready(socket)).toEqual([
        { exportId: 'uma-1', subjectUserId: 'subject-42', expiresAt: '2030-01-01T00:00:00.000Z' },
        { exportId: 'uma-2', subjectUserId: 'uma', expiresAt: '2030-01-01T00:00:00.000Z' },
      ]);
    }
    await recorder(stranger).waitFor(() => ready(stranger).some((payload) => payload.exportId === 'vic-2'));
    expect(ready(stranger).map((payload) => payload.exportId)).toEqual(['vic-1', 'vic-2']);
  });
});

/** Needs redis-server on PATH (.ci/run installs it), like the other scale-out tests. */
describe('Realtime and user data across two instances with Redis', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let a: TestApp;
  let b: TestApp;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    if (!redis) throw new Error('redis-server is not installed: apt-get install -y redis-server (.ci/run does)');
    const dbName = `test_user_data_scale_${randomBytes(5).toString('hex')}`;
    a = await startTestApp({ REDIS_URL: redis.url }, { dbName });
    b = await startTestApp({ REDIS_URL: redis.url }, { dbName });
  });
  afterAll(async () => {
    sockets.forEach((socket) => socket.close());
    await b?.app.close();
    await a?.close();
    await redis?.stop();
  });

  it('closes the user’s sockets on the other instance when the user is erased on this one', async () => {
    const onB = await connectSocket(await b.port(), '/chat', { token: b.token('walt') });
    const bystanderOnB = await connectSocket(await b.port(), '/chat', { token: b.token('xena') });
    sockets.push(onB, bystanderOnB);
    const closing = disconnected(onB);
    // Counts are this instance's: walt has no socket on A.
    expect(await realtimeProvider(a).erase('walt')).toEqual({ sockets: 0 });
    expect(await closing).toBe('io server disconnect');
    expect(await realtimeProvider(b).inventory('walt')).toEqual({ sockets: 0 });
    expect(bystanderOnB.connected).toBe(true);
  });

  it('closes the user’s plain WebSockets on the other instance too, with 4403', async () => {
    const plainOnB = await openPlain(await b.port(), '/ws/chat', { headers: { authorization: `Bearer ${b.token('wanda')}` } });
    const bystander = await openPlain(await b.port(), '/ws/chat', { headers: { authorization: `Bearer ${b.token('xavier')}` } });
    await plainOnB.waitFor((frames) => frames.some((frame) => frame.event === 'ready'));
    expect(await realtimeProvider(b).inventory('wanda')).toEqual({ sockets: 1 });
    expect(await realtimeProvider(a).erase('wanda')).toEqual({ sockets: 0 });
    expect((await plainOnB.closed).code).toBe(4403);
    expect(await realtimeProvider(b).inventory('wanda')).toEqual({ sockets: 0 });
    expect(bystander.ws.readyState).toBe(bystander.ws.OPEN);
    bystander.close();
  });

  it('delivers data-export.ready published on one instance to the user’s socket on the other', async () => {
    const onB = await connectSocket(await b.port(), '/chat', { token: b.token('yara') });
    sockets.push(onB);
    a.app.get(DomainEventBus).publish(DomainEvent.DataExportReady, exportReady('yara', 'export-across'));
    await recorder(onB).waitFor((events) => events.some(([name]) => name === 'data-export.ready'));
    expect(recorder(onB).events.filter(([name]) => name === 'data-export.ready')).toEqual([
      ['data-export.ready', { exportId: 'export-across', subjectUserId: 'yara', expiresAt: '2030-01-01T00:00:00.000Z' }],
    ]);
  });
});
