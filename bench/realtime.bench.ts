import { fork, type ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { io, type Socket } from 'socket.io-client';
import { sendJsonOk } from './lib/http.js';
import { formatRow, runBenchmark, summarize } from './lib/stats.js';

/**
 * npm run bench:realtime — delivery latency of live messages to many sockets, and memory per idle
 * connection. BENCH_SOCKETS sockets (1000) follow BENCH_CONVERSATIONS conversations (100) on
 * /chat/<id>; BENCH_POSTS messages (500) are posted through REST at BENCH_RATE a second (50); each
 * receiving socket records the time from just before the POST to its message:created. Baseline in
 * the same run: a bare Socket.IO server broadcasting to rooms of the same size.
 */
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 1000);
const CONVERSATIONS = Number(process.env.BENCH_CONVERSATIONS ?? 100);
const POSTS = Number(process.env.BENCH_POSTS ?? 500);
const RATE = Number(process.env.BENCH_RATE ?? 50);
const SECRET = 'bench-secret-bench-secret-bench-secret';
const SERVER_SCRIPT = fileURLToPath(new URL('./realtime-server.js', import.meta.url));

interface ServerProcess {
  child: ChildProcess;
  port: number;
  ask<T>(command: object, reply: string): Promise<T>;
}

async function startServer(mode: 'app' | 'bare'): Promise<ServerProcess> {
  const child = fork(SERVER_SCRIPT, [mode], { env: { ...process.env, BENCH_SECRET: SECRET }, execArgv: ['--expose-gc'] });
  const ask = <T>(command: object, reply: string) =>
    new Promise<T>((resolve) => {
      const listener = (message: { type: string }) => {
        if (message.type === reply) {
          child.off('message', listener);
          resolve(message as T);
        }
      };
      child.on('message', listener);
      child.send(command);
    });
  const port = await new Promise<number>((resolve) => child.once('message', (message: { port: number }) => resolve(message.port)));
  return { child, port, ask };
}

function stopServer(server: ServerProcess): Promise<void> {
  return new Promise((resolve) => {
    server.child.once('exit', () => resolve());
    server.child.send({ type: 'stop' });
  });
}

function connect(port: number, namespace: string, auth: Record<string, unknown>): Promise<Socket> {
  const socket = io(`http://127.0.0.1:${port}${namespace}`, {
    path: '/ws',
    transports: ['websocket'],
    auth,
    forceNew: true,
    reconnection: false,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

async function measure(name: string, sockets: Socket[], send: (i: number, sentAt: Map<string, number>) => Promise<void>): Promise<void> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  for (const socket of sockets) {
    socket.on('message:created', (payload: { message?: { content: string }; tag?: string }) => {
      const tag = payload.tag ?? payload.message?.content ?? '';
      const started = sentAt.get(tag);
      if (started !== undefined) latencies.push(Number(process.hrtime.bigint()) / 1e6 - started);
    });
  }
  const interval = 1000 / RATE;
  const begin = Date.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < POSTS; i += 1) {
    const due = begin + i * interval;
    if (due > Date.now()) await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
    pending.push(send(i, sentAt));
  }
  await Promise.all(pending);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const expected = POSTS * (SOCKETS / CONVERSATIONS);
  process.stdout.write(`${formatRow(name, summarize(latencies))}  (${latencies.length}/${expected} deliveries)\n`);
}

async function main(): Promise<void> {
  process.stdout.write(`${SOCKETS} sockets over ${CONVERSATIONS} conversations, ${POSTS} messages at ${RATE}/s\n\n`);
  const perConversation = SOCKETS / CONVERSATIONS;

  // Baseline: bare Socket.IO.
  const bare = await startServer('bare');
  const bareSockets: Socket[] = [];
  for (let i = 0; i < SOCKETS; i += 1) bareSockets.push(await connect(bare.port, '/', { room: `room-${i % CONVERSATIONS}` }));
  await measure('bare Socket.IO broadcast', bareSockets, (i, sentAt) => {
    const tag = `bare-${i}`;
    sentAt.set(tag, Number(process.hrtime.bigint()) / 1e6);
    bare.child.send({ type: 'broadcast', room: `room-${i % CONVERSATIONS}`, payload: { tag } });
    return Promise.resolve();
  });
  bareSockets.forEach((socket) => socket.close());
  await stopServer(bare);

  // The app.
  const app = await startServer('app');
  const users = Array.from({ length: CONVERSATIONS }, (_, i) => ({
    id: `rt-user-${i}`,
    token: jwt.sign({ sub: `rt-user-${i}`, roles: ['warehouse_operator'] }, SECRET, { expiresIn: '1h' }),
  }));
  const conversations: string[] = [];
  for (const user of users)
    conversations.push(
      (JSON.parse(await sendJsonOk(agent, app.port, 'POST', '/api/v1/chat/conversations', user.token, {})) as { id: string }).id,
    );

  const before = await app.ask<{ rss: number; heapUsed: number }>({ type: 'memory' }, 'memory');
  const appSockets: Socket[] = [];
  for (let i = 0; i < SOCKETS; i += 1) {
    const c = i % CONVERSATIONS;
    appSockets.push(await connect(app.port, `/chat/${conversations[c]}`, { token: users[c]!.token }));
  }
  const after = await app.ask<{ rss: number; heapUsed: number }>({ type: 'memory' }, 'memory');

  await measure('app: REST POST to socket', appSockets, async (i, sentAt) => {
    const c = i % CONVERSATIONS;
    const tag = `app-${i}`;
    sentAt.set(tag, Number(process.hrtime.bigint()) / 1e6);
    await sendJsonOk(agent, app.port, 'POST', `/api/v1/chat/conversations/${conversations[c]}/messages`, users[c]!.token, {
      content: tag,
      reply: false,
    });
  });
  process.stdout.write(
    `\nidle connections: ${SOCKETS} sockets (${perConversation} per conversation) cost the app ${((after.rss - before.rss) / 1024 / 1024).toFixed(1)} MiB RSS, ` +
      `${((after.rss - before.rss) / SOCKETS / 1024).toFixed(1)} KiB each (heap ${((after.heapUsed - before.heapUsed) / SOCKETS / 1024).toFixed(1)} KiB each)\n`,
  );
  appSockets.forEach((socket) => socket.close());
  agent.destroy();
  await stopServer(app);
}

runBenchmark(main);
