import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import mongoose from 'mongoose';
import { indexTermsOf } from '../src/common/text/search-terms.js';
import { type AppProcess, startAppProcess, rssMb } from './lib/app-process.js';
import { chatText } from './lib/history-seed.js';
import { sendJson } from './lib/http.js';
import { formatRow, runBenchmark, seededRandom, summarize } from './lib/stats.js';

/**
 * npm run bench:analytics — the analytics rollups over a month of traffic, through the real
 * server process (`node dist/src/main.js` on the persistent embedded store, as `npm start` runs
 * it), against the raw driver in the same run.
 *
 * Seeds 1,000,000 messages (BENCH_ANALYTICS_MESSAGES) over the 30 days before today: 2,000 users
 * (BENCH_ANALYTICS_USERS) in 4 roles, each day a few conversations per active user, replies with
 * tokens and processing times, some failed, some "no match", ratings on 3 % of replies. Then:
 *
 * - **rollup**: `POST /api/v1/chat/analytics/rollup` (the job's first run: every day, user, role,
 *   agent and global scopes, then the weeks and months), timed, with the server's RSS sampled,
 *   against **one raw aggregation** of the per-user, per-day figures (counts by type, tokens,
 *   failures, the processing times for percentiles) through the driver over the same 30 days;
 * - **dashboard**: `GET /api/v1/chat/analytics/dashboard` for the 30 days (global scope and one
 *   user's), latencies over 50 requests each, against computing the same range on the fly with the
 *   raw aggregation (global: the one above; user: the same pipeline narrowed to the user).
 */
const MESSAGES = Number(process.env.BENCH_ANALYTICS_MESSAGES ?? 1_000_000);
const USERS = Number(process.env.BENCH_ANALYTICS_USERS ?? 2_000);
const DAYS = 30;
const ROLES = ['picker', 'packer', 'receiver', 'supervisor'];
const AGENTS = ['picking-assistant', 'packing-assistant', 'receiving-assistant', 'supervisor-assistant'];
const DASHBOARD_REQUESTS = 50;
const SECRET = 'bench-secret-bench-secret-bench-secret';
const DB_NAME = 'wms_chat';
const DAY_MS = 86_400_000;
const RSS_BUDGET_MB = 256;
/**
 * The server's V8 heap limit (BENCH_ANALYTICS_HEAP_MB; 0 for Node's default). V8 grows its heap
 * lazily under a high allocation rate, so with the default limit (a quarter of the machine's
 * memory) the RSS measures garbage not yet collected; a limit makes the run show what the rollup
 * needs: it fails with "heap out of memory" if it holds more.
 */
const HEAP_MB = Number(process.env.BENCH_ANALYTICS_HEAP_MB ?? RSS_BUDGET_MB);

function token(sub: string, roles: string[]): string {
  return jwt.sign({ sub, roles }, SECRET, { algorithm: 'HS256', expiresIn: '4h' });
}

/** Writes the month through the driver, shaped as the app stores it. */
async function seed(db: mongoose.mongo.Db, from: Date): Promise<{ messages: number; conversations: number }> {
  const random = seededRandom(42);
  const perDay = Math.ceil(MESSAGES / DAYS);
  let messages: Record<string, unknown>[] = [];
  let conversations: Record<string, unknown>[] = [];
  let feedback: Record<string, unknown>[] = [];
  let written = 0;
  let conversationCount = 0;
  const flush = async (force: boolean) => {
    if (messages.length >= 5000 || (force && messages.length > 0)) {
      await db.collection('chat_messages').insertMany(messages, { ordered: false });
      messages = [];
    }
    if (conversations.length >= 2000 || (force && conversations.length > 0)) {
      await db.collection('chat_conversations').insertMany(conversations, { ordered: false });
      conversations = [];
    }
    if (feedback.length >= 2000 || (force && feedback.length > 0)) {
      await db.collection('chat_message_feedback').insertMany(feedback, { ordered: false });
      feedback = [];
    }
  };
  for (let day = 0; day < DAYS && written < MESSAGES; day += 1) {
    const dayStart = from.getTime() + day * DAY_MS;
    let today = 0;
    while (today < perDay && written < MESSAGES) {
      const user = Math.floor(random() * USERS);
      const role = user % ROLES.length;
      const conversationId = new mongoose.Types.ObjectId();
      const size = 2 * (1 + Math.floor(random() * 8));
      let at = dayStart + Math.floor(random() * 20 * 3_600_000);
      const created = new Date(at);
      for (let seq = 1; seq <= size; seq += 2) {
        const question = chatText(random, 12);
        const outcome = random();
        const processingTime = 200 + Math.floor(-Math.log(1 - random()) * 900);
        const failed = outcome < 0.03;
        const replyId = new mongoose.Types.ObjectId();
        messages.push({
          conversationId,
          userId: `user-${user}`,
          type: 'user',
          content: question,
          tokens: 12,
          status: 'completed',
          error: null,
          metadata: {},
          timestamp: new Date(at),
          seq,
          searchTerms: indexTermsOf(question, 64),
          searchTermsVersion: 2,
          attachmentCount: 0,
          createdAt: new Date(at),
          updatedAt: new Date(at),
        });
        messages.push({
          _id: replyId,
          conversationId,
          userId: `user-${user}`,
          type: 'assistant',
          content: chatText(random, 40),
          tokens: 60,
          status: failed ? 'failed' : 'completed',
          error: failed ? { code: 'PROVIDER_TIMEOUT', message: 'timeout' } : null,
          generation: {
            agentKey: AGENTS[role],
            agentVersion: 1,
            provider: 'playbook',
            model: `playbook:${AGENTS[role]}@1`,
            finishReason: failed ? null : outcome < 0.1 ? 'no_match' : 'stop',
            timeToFirstToken: failed ? null : Math.floor(processingTime / 5),
            attempt: 1,
          },
          tokensUsed: failed ? undefined : { prompt: 300, completion: 80, total: 380 },
          processingTime,
          metadata: {},
          timestamp: new Date(at + 500),
          seq: seq + 1,
          attachmentCount: 0,
          createdAt: new Date(at + 500),
          updatedAt: new Date(at + processingTime),
        });
        if (!failed && random() < 0.03) {
          feedback.push({
            messageId: replyId,
            conversationId,
            userId: `user-${user}`,
            agentKey: AGENTS[role],
            agentVersion: 1,
            rating: random() < 0.8 ? 'up' : 'down',
            comment: random() < 0.3 ? 'bench comment' : null,
            createdAt: new Date(at + 5000),
            updatedAt: new Date(at + 5000),
          });
        }
        at += 30_000 + Math.floor(random() * 300_000);
      }
      conversations.push({
        _id: conversationId,
        userId: `user-${user}`,
        title: null,
        role: ROLES[role],
        agentKey: AGENTS[role],
        summary: null,
        status: 'active',
        metadata: {},
        lastMessageAt: new Date(at),
        lastActivityAt: new Date(at),
        messageCount: size,
        lastSeq: size,
        archivedAt: null,
        deletedAt: null,
        createdAt: created,
        updatedAt: new Date(at),
      });
      conversationCount += 1;
      today += size;
      written += size;
      await flush(false);
    }
    process.stdout.write(`  seeded day ${day + 1}/${DAYS}: ${written.toLocaleString('en-US')} messages\n`);
  }
  await flush(true);
  return { messages: written, conversations: conversationCount };
}

/**
 * The baseline: the per-user, per-day figures in one aggregation through the driver (the least a
 * rollup of the same figures must read), optionally narrowed to one user.
 */
async function rawAggregation(db: mongoose.mongo.Db, from: Date, to: Date, userId?: string): Promise<number> {
  const match: Record<string, unknown> = { timestamp: { $gte: from, $lt: to } };
  if (userId) match.userId = userId;
  const rows = await db
    .collection('chat_messages')
    .aggregate(
      [
        { $match: match },
        {
          $group: {
            _id: { userId: '$userId', day: { $dateToString: { format: '%Y-%m-%d', date: '$timestamp' } } },
            user: { $sum: { $cond: [{ $eq: ['$type', 'user'] }, 1, 0] } },
            assistant: { $sum: { $cond: [{ $eq: ['$type', 'assistant'] }, 1, 0] } },
            failed: { $sum: { $cond: [{ $eq: ['$status', 'failed'] }, 1, 0] } },
            prompt: { $sum: '$tokensUsed.prompt' },
            completion: { $sum: '$tokensUsed.completion' },
            processingTimes: { $push: '$processingTime' },
          },
        },
      ],
      { allowDiskUse: true },
    )
    .toArray();
  // The percentiles the rollup keeps, per day, from the pushed times.
  const byDay = new Map<string, number[]>();
  for (const row of rows as unknown as { _id: { day: string }; processingTimes: (number | null)[] }[]) {
    const times = byDay.get(row._id.day) ?? [];
    for (const time of row.processingTimes) if (typeof time === 'number') times.push(time);
    byDay.set(row._id.day, times);
  }
  for (const times of byDay.values()) times.sort((a, b) => a - b);
  return rows.length;
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

runBenchmark(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-analytics-'));
  let app: AppProcess | undefined;
  let client: typeof mongoose | undefined;
  try {
    app = await startAppProcess({
      NODE_ENV: 'production',
      JWT_SECRET: SECRET,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
      DATA_DIR: dataDir,
      ENABLE_DATA_RETENTION: 'false',
      // Runs only when asked (below): a scheduled run must not overlap the measurement.
      CHAT_ANALYTICS_CRON: '0 0 1 1 *',
      ...(HEAP_MB > 0 ? { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` } : {}),
    });
    const storePort = app.storePort();
    if (!storePort) throw new Error('the embedded store port was not found');
    client = await mongoose.connect(`mongodb://127.0.0.1:${storePort}/${DB_NAME}`);
    const db = client.connection.db!;
    const today = new Date(new Date().toISOString().slice(0, 10));
    const from = new Date(today.getTime() - DAYS * DAY_MS);
    process.stdout.write(`seeding ${MESSAGES.toLocaleString('en-US')} messages of ${USERS} users over ${DAYS} days...\n`);
    const seeded = await timed(() => seed(db, from));
    process.stdout.write(
      `seeded ${seeded.value.messages.toLocaleString('en-US')} messages, ${seeded.value.conversations.toLocaleString('en-US')} conversations in ${(seeded.ms / 1000).toFixed(0)} s\n\n`,
    );

    const admin = token('bench-admin', ['admin']);
    const raw = await timed(() => rawAggregation(db, from, today));
    const pid = app.child.pid!;
    const rssBefore = await rssMb(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => void rssMb(pid).then((rss) => (rssPeak = Math.max(rssPeak, rss))), 100);
    const rollup = await timed(() =>
      sendJson(app!.agent, app!.port, 'POST', '/api/v1/chat/analytics/rollup', admin, undefined, 60 * 60_000),
    );
    clearInterval(sampler);
    if (rollup.value.status !== 200) throw new Error(`rollup: ${rollup.value.status} ${rollup.value.body.slice(0, 300)}`);
    const run = JSON.parse(rollup.value.body) as { status: string; counts: Record<string, number> };
    if (run.status !== 'succeeded') throw new Error(`rollup ${run.status}: ${rollup.value.body}`);
    const growth = rssPeak - rssBefore;

    const range = `from=${from.toISOString().slice(0, 10)}&to=${new Date(today.getTime() - DAY_MS).toISOString().slice(0, 10)}`;
    const dashboard = async (scope: string, bearer: string) => {
      const samples: number[] = [];
      for (let index = 0; index < DASHBOARD_REQUESTS; index += 1) {
        const answer = await timed(() =>
          sendJson(app!.agent, app!.port, 'GET', `/api/v1/chat/analytics/dashboard?scope=${scope}&${range}`, bearer),
        );
        if (answer.value.status !== 200) throw new Error(`dashboard ${scope}: ${answer.value.status} ${answer.value.body.slice(0, 300)}`);
        samples.push(answer.ms);
      }
      return summarize(samples);
    };
    const globalDashboard = await dashboard('global', admin);
    const userDashboard = await dashboard('me', token('user-7', ['picker']));
    const onTheFlyGlobal = [raw.ms];
    for (let index = 0; index < 2; index += 1) onTheFlyGlobal.push((await timed(() => rawAggregation(db, from, today))).ms);
    const onTheFlyUser: number[] = [];
    for (let index = 0; index < 10; index += 1) onTheFlyUser.push((await timed(() => rawAggregation(db, from, today, 'user-7'))).ms);

    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    process.stdout.write(`analytics over ${seeded.value.messages.toLocaleString('en-US')} messages, ${DAYS} days, ${USERS} users\n`);
    process.stdout.write(
      `  rollup (API, all scopes, days + weeks + months)  ${seconds(rollup.ms).padStart(8)}  ${JSON.stringify(run.counts)}\n` +
        `  raw aggregation (driver, per user and day)       ${seconds(raw.ms).padStart(8)}  ${raw.value} groups\n` +
        `  ratio rollup / raw                               ${(rollup.ms / raw.ms).toFixed(2)}x\n` +
        `  server RSS during the rollup: ${rssBefore.toFixed(0)} → peak ${rssPeak.toFixed(0)} MB (+${growth.toFixed(1)} MB, budget ${RSS_BUDGET_MB}; ` +
        `V8 heap limit ${HEAP_MB > 0 ? `${HEAP_MB} MB` : "Node's default"})\n\n`,
    );
    process.stdout.write(`${formatRow('dashboard global (rollups)', globalDashboard)}\n`);
    process.stdout.write(`${formatRow('global on the fly (raw)', summarize(onTheFlyGlobal))}\n`);
    process.stdout.write(`${formatRow('dashboard one user (rollups)', userDashboard)}\n`);
    process.stdout.write(`${formatRow('one user on the fly (raw)', summarize(onTheFlyUser))}\n`);
    process.stdout.write(
      `  p99 ratio rollups / on the fly: global ${(globalDashboard.p99 / summarize(onTheFlyGlobal).p99).toFixed(3)}x, one user ${(userDashboard.p99 / summarize(onTheFlyUser).p99).toFixed(3)}x\n`,
    );
    if (growth > RSS_BUDGET_MB) {
      process.stdout.write(`FAIL: the rollup grew the server's RSS by ${growth.toFixed(1)} MB (budget ${RSS_BUDGET_MB} MB)\n`);
      process.exitCode = 1;
    }
  } finally {
    await client?.disconnect();
    if (app) {
      app.signalGroup('SIGTERM');
      await app.exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  }
});
