import { fork, type ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { io, type Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { sendJsonOk } from './lib/http.js';
import { formatRow, runBenchmark, summarize } from './lib/stats.js';

/**
 * npm run bench:realtime — delivery latency of live messages to many connections, and memory per
 * idle connection, for both protocols. BENCH_SOCKETS connections (1000) follow BENCH_CONVERSATIONS
 * conversations (100): Socket.IO on /chat/<id>, then plain WebSockets on /ws/chat/<id>;
 * BENCH_POSTS messages (500) are posted through REST at BENCH_RATE a second (50); each receiving
 * connection records the time from just before the POST to its message:created. Baselines in the
 * same run: a bare Socket.IO server and a bare `ws` server broadcasting to rooms of the same size.
 * Memory per idle connection: the server process's RSS, and its V8 heap plus external memory
 * (Buffers), after a full GC, before and after the connections open.
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

async function startServer(mode: 'app' | 'bare' | 'bare-ws'): Promise<ServerProcess> {
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

type CreatedPayload = { message?: { content: string }; tag?: string };

/** A connection of either protocol, as the measurement listens to it. */
interface Receiver {
  onCreated(listener: (payload: CreatedPayload) => void): void;
  close(): void;
}

function socketIoReceiver(socket: Socket): Receiver {
  return { onCreated: (listener) => socket.on('message:created', listener), close: () => socket.close() };
}

function plainReceiver(socket: WebSocket): Receiver {
  return {
    onCreated: (listener) =>
      socket.on('message', (data: Buffer) => {
        const frame = JSON.parse(data.toString('utf8')) as { event: string; data: CreatedPayload };
        if (frame.event === 'message:created') listener(frame.data);
      }),
    close: () => socket.close(),
  };
}

/** A plain WebSocket, open once the app said `ready` (or at once on the bare server). */
function connectPlain(url: string, headers: Record<string, string> = {}, awaitReady = true): Promise<WebSocket> {
  const socket = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    if (!awaitReady) socket.once('open', () => resolve(socket));
    else socket.once('message', () => resolve(socket));
  });
}

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}

function perConnection(label: string, before: Memory, after: Memory): string {
  const kib = (bytes: number) => (bytes / SOCKETS / 1024).toFixed(1);
  return (
    `${label}: ${SOCKETS} idle connections cost ${kib(after.rss - before.rss)} KiB RSS each, ` +
    `${kib(after.heapUsed + after.external - before.heapUsed - before.external)} KiB heap + external each ` +
    `(heap ${kib(after.heapUsed - before.heapUsed)}, external ${kib(after.external - before.external)})\n`
  );
}

async function measure(
  name: string,
  receivers: Receiver[],
  send: (i: number, sentAt: Map<string, number>) => Promise<void>,
): Promise<void> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  for (const receiver of receivers) {
    receiver.onCreated((payload) => {
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
  process.stdout.write(`${SOCKETS} connections over ${CONVERSATIONS} conversations, ${POSTS} messages at ${RATE}/s\n\n`);
  const memoryLines: string[] = [];
  const broadcastTo = (server: ServerProcess) => (i: number, sentAt: Map<string, number>) => {
    const tag = `bare-${i}`;
    sentAt.set(tag, Number(process.hrtime.bigint()) / 1e6);
    server.child.send({ type: 'broadcast', room: `room-${i % CONVERSATIONS}`, payload: { tag } });
    return Promise.resolve();
  };

  // Baselines: bare Socket.IO, bare ws.
  const bare = await startServer('bare');
  let before = await bare.ask<Memory>({ type: 'memory' }, 'memory');
  const bareSockets: Receiver[] = [];
  for (let i = 0; i < SOCKETS; i += 1)
    bareSockets.push(socketIoReceiver(await connect(bare.port, '/', { room: `room-${i % CONVERSATIONS}` })));
  memoryLines.push(perConnection('bare Socket.IO server', before, await bare.ask<Memory>({ type: 'memory' }, 'memory')));
  await measure('bare Socket.IO broadcast', bareSockets, broadcastTo(bare));
  bareSockets.forEach((socket) => socket.close());
  await stopServer(bare);

  const bareWs = await startServer('bare-ws');
  before = await bareWs.ask<Memory>({ type: 'memory' }, 'memory');
  const bareWsSockets: Receiver[] = [];
  for (let i = 0; i < SOCKETS; i += 1)
    bareWsSockets.push(plainReceiver(await connectPlain(`ws://127.0.0.1:${bareWs.port}/ws?room=room-${i % CONVERSATIONS}`, {}, false)));
  memoryLines.push(perConnection('bare ws server', before, await bareWs.ask<Memory>({ type: 'memory' }, 'memory')));
  await measure('bare ws broadcast', bareWsSockets, broadcastTo(bareWs));
  bareWsSockets.forEach((socket) => socket.close());
  await stopServer(bareWs);

  // The app, each protocol in a fresh server process (so one's freed memory does not offset the other's RSS).
  const users = Array.from({ length: CONVERSATIONS }, (_, i) => ({
    id: `rt-user-${i}`,
    token: jwt.sign({ sub: `rt-user-${i}`, roles: ['warehouse_operator'] }, SECRET, { expiresIn: '1h' }),
  }));
  const protocols: { name: string; open: (port: number, conversationId: string, token: string) => Promise<Receiver> }[] = [
    {
      name: 'Socket.IO',
      open: async (port, conversationId, token) => socketIoReceiver(await connect(port, `/chat/${conversationId}`, { token })),
    },
    {
      name: 'plain WebSocket',
      open: async (port, conversationId, token) =>
        plainReceiver(await connectPlain(`ws://127.0.0.1:${port}/ws/chat/${conversationId}`, { authorization: `Bearer ${token}` })),
    },
  ];
  for (const protocol of protocols) {
    const app = await startServer('app');
    const conversations: string[] = [];
    for (const user of users)
      conversations.push(
        (JSON.parse(await sendJsonOk(agent, app.port, 'POST', '/api/v1/chat/conversations', user.token, {})) as { id: string }).id,
      );
    before = await app.ask<Memory>({ type: 'memory' }, 'memory');
    const receivers: Receiver[] = [];
    for (let i = 0; i < SOCKETS; i += 1) {
      const c = i % CONVERSATIONS;
      receivers.push(await protocol.open(app.port, conversations[c]!, users[c]!.token));
    }
    memoryLines.push(perConnection(`app, ${protocol.name}`, before, await app.ask<Memory>({ type: 'memory' }, 'memory')));
    await measure(`app: REST POST to ${protocol.name}`, receivers, async (i, sentAt) => {
      const c = i % CONVERSATIONS;
      const tag = `app-${protocol.name}-${i}`;
      sentAt.set(tag, Number(process.hrtime.bigint()) / 1e6);
      await sendJsonOk(agent, app.port, 'POST', `/api/v1/chat/conversations/${conversations[c]}/messages`, users[c]!.token, {
        content: tag,
        reply: false,
      });
    });
    receivers.forEach((receiver) => receiver.close());
    await stopServer(app);
  }

  process.stdout.write(
    `\nmemory per idle connection (${SOCKETS / CONVERSATIONS} per conversation):\n${memoryLines.map((line) => `  ${line}`).join('')}`,
  );
  agent.destroy();
}

runBenchmark(main);
