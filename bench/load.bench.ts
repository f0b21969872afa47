import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { io, type Socket } from 'socket.io-client';
import { startRedis } from '../test/support/redis-server.js';
import { type AppProcess, startAppProcess } from './lib/app-process.js';
import { chatText } from './lib/history-seed.js';
import { sendJson } from './lib/http.js';
import { runBenchmark, seededRandom, summarize } from './lib/stats.js';

/**
 * npm run bench:load — a capacity figure: a mixed workload at rising concurrency, on one instance
 * and on two instances behind Redis sharing one store, through the real server processes
 * (`node dist/src/main.js`, production mode, the persistent embedded store that `npm start` runs).
 *
 * Each virtual user (one per unit of concurrency, each its own user with a conversation of 20
 * messages and a Socket.IO connection following it) loops without pause over: list its
 * conversations (25 %), read its history (35 %), send a message answered by the playbook agent
 * (15 %, the reply written before the answer, with the playbook's pacing off), search its
 * messages (10 %), and send a message
 * without a reply and time its delivery to its socket (15 %). With two instances, requests
 * alternate between them (a round-robin balancer) and each user's socket is on the other instance
 * than the one it sends to, so deliveries cross Redis.
 *
 * Per level (BENCH_LOAD_LEVELS, default 4,8,16,32,64; BENCH_LOAD_SECONDS each, default 20):
 * throughput, mean and p99 latency, errors (5xx, failed requests, deliveries not seen within
 * 5 s, requests over 10 s). Capacity: the highest level with errors under 0.025 %, mean under
 * 100 ms and p99 under 2 s.
 */
const LEVELS = (process.env.BENCH_LOAD_LEVELS ?? '4,8,16,32,64').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 20);
const SECRET = 'bench-secret-bench-secret-bench-secret';
const API = '/api/v1/chat';
const REQUEST_TIMEOUT_MS = 10_000;
const DELIVERY_TIMEOUT_MS = 5_000;
const HISTORY_MESSAGES = 20;
const MAX_ERROR_RATE = 0.00025;
const MAX_MEAN_MS = 100;
const MAX_P99_MS = 2000;

interface VirtualUser {
  id: string;
  token: string;
  conversationId: string;
  socket: Socket;
  /** Deliveries awaited on the socket, by message content. */
  awaiting: Map<string, (at: number) => void>;
}

interface LevelResult {
  concurrency: number;
  requests: number;
  errors: number;
  perSecond: number;
  mean: number;
  p99: number;
  deliveryP99: number;
}

function token(sub: string): string {
  return jwt.sign({ sub, roles: ['warehouse_operator'] }, SECRET, { algorithm: 'HS256', expiresIn: '2h' });
}

function connectSocket(port: number, conversationId: string, bearer: string): Promise<Socket> {
  const socket = io(`http://127.0.0.1:${port}/chat/${conversationId}`, {
    path: '/ws',
    transports: ['websocket'],
    auth: { token: bearer },
    forceNew: true,
    reconnection: false,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

async function runDeployment(label: string, apps: AppProcess[]): Promise<LevelResult[]> {
  const random = seededRandom(11);
  const users: VirtualUser[] = [];
  const pick = (i: number) => apps[i % apps.length]!;
  const maxLevel = Math.max(...LEVELS);
  process.stdout.write(`\n[${label}] setting up ${maxLevel} users, each with a conversation of ${HISTORY_MESSAGES} messages...\n`);
  for (let i = 0; i < maxLevel; i += 1) {
    const id = `load-${label.replace(/\W/g, '')}-${i}`;
    const bearer = token(id);
    const created = await sendJson(pick(i).agent, pick(i).port, 'POST', `${API}/conversations`, bearer, {});
    const conversationId = (JSON.parse(created.body) as { id: string }).id;
    for (let m = 0; m < HISTORY_MESSAGES; m += 1)
      await sendJson(pick(m).agent, pick(m).port, 'POST', `${API}/conversations/${conversationId}/messages`, bearer, {
        content: chatText(random, 10),
        reply: false,
      });
    // The socket on another instance than the user's first request goes to.
    const socket = await connectSocket(pick(i + 1).port, conversationId, bearer);
    const user: VirtualUser = { id, token: bearer, conversationId, socket, awaiting: new Map() };
    socket.on('message:created', (payload: { message: { content: string } }) => {
      user.awaiting.get(payload.message.content)?.(performance.now());
    });
    users.push(user);
  }

  const results: LevelResult[] = [];
  let counter = 0;
  for (const concurrency of LEVELS) {
    const latencies: number[] = [];
    const deliveries: number[] = [];
    let errors = 0;
    const until = performance.now() + SECONDS * 1000;
    const loop = async (user: VirtualUser) => {
      while (performance.now() < until) {
        const roll = random();
        const app = pick(counter++);
        const started = performance.now();
        let status = 0;
        try {
          if (roll < 0.25) {
            status = (
              await sendJson(app.agent, app.port, 'GET', `${API}/conversations?limit=20`, user.token, undefined, REQUEST_TIMEOUT_MS)
            ).status;
          } else if (roll < 0.6) {
            status = (
              await sendJson(
                app.agent,
                app.port,
                'GET',
                `${API}/conversations/${user.conversationId}/messages?order=desc&limit=50`,
                user.token,
                undefined,
                REQUEST_TIMEOUT_MS,
              )
            ).status;
          } else if (roll < 0.75) {
            status = (
              await sendJson(
                app.agent,
                app.port,
                'POST',
                `${API}/conversations/${user.conversationId}/messages`,
                user.token,
                { content: 'short pick at aisle 4' },
                REQUEST_TIMEOUT_MS,
              )
            ).status;
          } else if (roll < 0.85) {
            status = (
              await sendJson(
                app.agent,
                app.port,
                'GET',
                `${API}/messages/search?q=pick&limit=20`,
                user.token,
                undefined,
                REQUEST_TIMEOUT_MS,
              )
            ).status;
          } else {
            const content = `delivery ${user.id} ${counter}`;
            const delivered = new Promise<number | null>((resolve) => {
              const timer = setTimeout(() => resolve(null), DELIVERY_TIMEOUT_MS);
              user.awaiting.set(content, (at) => {
                clearTimeout(timer);
                resolve(at);
              });
            });
            status = (
              await sendJson(
                app.agent,
                app.port,
                'POST',
                `${API}/conversations/${user.conversationId}/messages`,
                user.token,
                { content, reply: false },
                REQUEST_TIMEOUT_MS,
              )
            ).status;
            const at = status < 300 ? await delivered : null;
            user.awaiting.delete(content);
            if (status < 300 && at === null) errors += 1;
            else if (at !== null) deliveries.push(at - started);
          }
        } catch {
          status = 0;
        }
        latencies.push(performance.now() - started);
        // Errors are the server's: 5xx, and requests that failed or timed out. A 4xx would be the bench's own mistake.
        if (status === 0 || status >= 500) errors += 1;
        if (status >= 400 && status < 500) throw new Error(`the workload got ${status}: fix the bench`);
      }
    };
    const started = performance.now();
    await Promise.all(users.slice(0, concurrency).map(loop));
    const seconds = (performance.now() - started) / 1000;
    const summary = summarize(latencies);
    const mean = latencies.reduce((sum, value) => sum + value, 0) / Math.max(1, latencies.length);
    const result: LevelResult = {
      concurrency,
      requests: latencies.length,
      errors,
      perSecond: latencies.length / seconds,
      mean,
      p99: summary.p99,
      deliveryP99: deliveries.length ? summarize(deliveries).p99 : 0,
    };
    results.push(result);
    process.stdout.write(
      `[${label}] concurrency ${String(concurrency).padStart(3)}: ${result.requests} requests, ${result.perSecond.toFixed(0)}/s, ` +
        `mean ${mean.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms, errors ${errors} (${((100 * errors) / Math.max(1, result.requests)).toFixed(3)} %), ` +
        `delivery p99 ${result.deliveryP99.toFixed(1)} ms${withinTargets(result) ? '' : '  (over the targets)'}\n`,
    );
  }
  users.forEach((user) => user.socket.close());
  return results;
}

function withinTargets(result: LevelResult): boolean {
  return result.errors / Math.max(1, result.requests) < MAX_ERROR_RATE && result.mean < MAX_MEAN_MS && result.p99 < MAX_P99_MS;
}

function capacity(results: LevelResult[]): string {
  const within = results.filter(withinTargets);
  if (within.length === 0) return 'none of the levels met the targets';
  const best = within.reduce((a, b) => (b.concurrency > a.concurrency ? b : a));
  return `${best.concurrency} concurrent users (${best.perSecond.toFixed(0)} requests/s, mean ${best.mean.toFixed(1)} ms, p99 ${best.p99.toFixed(1)} ms)`;
}

runBenchmark(async () => {
  const redis = await startRedis();
  if (!redis) throw new Error('redis-server is not installed: apt-get install -y redis-server');
  const dataDirs: string[] = [];
  const apps: AppProcess[] = [];
  const env = (dataDir: string): Record<string, string> => ({
    NODE_ENV: 'production',
    JWT_SECRET: SECRET,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
    DATA_DIR: dataDir,
    CHAT_RATE_LIMIT_PER_MINUTE: '100000',
    WEBSOCKET_EVENTS_PER_MINUTE: '100000',
    // The playbook's pacing between chunks imitates a model's; what is measured here is the server's own work.
    PLAYBOOK_CHUNK_DELAY_MS: '0',
  });
  try {
    process.stdout.write(`levels ${LEVELS.join(', ')} concurrent users, ${SECONDS} s each\n`);
    dataDirs.push(await mkdtemp(join(tmpdir(), 'bench-load-one-')));
    apps.push(await startAppProcess(env(dataDirs[0]!)));
    const one = await runDeployment('one instance', apps);
    apps[0]!.signalGroup('SIGTERM');
    await apps.shift()!.exited;

    dataDirs.push(await mkdtemp(join(tmpdir(), 'bench-load-two-')));
    const first = await startAppProcess({ ...env(dataDirs[1]!), REDIS_URL: redis.url });
    apps.push(first);
    const storePort = first.storePort();
    if (!storePort) throw new Error('the embedded store port was not found');
    apps.push(
      await startAppProcess({ ...env(dataDirs[1]!), REDIS_URL: redis.url, MONGODB_URI: `mongodb://127.0.0.1:${storePort}/wms_chat` }),
    );
    const two = await runDeployment('two instances', apps);

    process.stdout.write(`\ncapacity (errors < 0.025 %, mean < ${MAX_MEAN_MS} ms, p99 < ${MAX_P99_MS} ms):\n`);
    process.stdout.write(`  one instance:  ${capacity(one)}\n  two instances: ${capacity(two)}\n`);
  } finally {
    for (const app of apps.reverse()) {
      app.signalGroup('SIGTERM');
      await app.exited;
    }
    await redis.stop();
    for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
  }
});
