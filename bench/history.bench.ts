import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import mongoose from 'mongoose';
import { BENCH_SECRET, type BenchApp, startBenchApp } from './lib/bench-app.js';
import { sendJsonOk } from './lib/http.js';
import { SeededConversation, chatText, seedHistory } from './lib/history-seed.js';
import { type LatencySummary, formatRow, runBenchmark, runConcurrently, seededRandom, summarize } from './lib/stats.js';

/**
 * npm run bench:history — seeds a chat-like history, then measures, on each store in one run:
 *  - GET /conversations/:id/messages?limit=50 over HTTP against the same query through the raw
 *    driver (the baseline), in interleaved rounds: conversations picked uniformly from the whole
 *    history (concurrency 16), then a working set of active conversations (BENCH_ACTIVE, 200) at
 *    concurrency 16 and 1, each with the message cache's hit rate (from the app's /metrics)
 *  - ingest throughput of POST /conversations/:id/messages
 * on the embedded store's memory backend and on its persistent file store (what `npm start`
 * runs, in a temporary data directory); with MONGODB_URI, on that store only. On the persistent
 * store it also measures what durable commits cost: raw driver inserts with the default write
 * concern (answered after the fsync) against `j: false` (answered before it, the store's old
 * behaviour), and API ingest there against the memory store. Ingest runs interleave the stores
 * and variants in rounds, so drifting load on the machine falls on all of them alike.
 * Sizes are tunable: BENCH_USERS, BENCH_CONVERSATIONS, BENCH_MESSAGES, BENCH_MESSAGES_PERSISTENT,
 * BENCH_READS, BENCH_READS_SEQUENTIAL, BENCH_ACTIVE, BENCH_WRITES, BENCH_DRIVER_WRITES, BENCH_ROUNDS,
 * BENCH_CONCURRENCY.
 */
const USERS = intEnv('BENCH_USERS', 200);
const CONVERSATIONS = intEnv('BENCH_CONVERSATIONS', 2000);
const MESSAGES = intEnv('BENCH_MESSAGES', 200_000);
const MESSAGES_PERSISTENT = intEnv('BENCH_MESSAGES_PERSISTENT', MESSAGES);
const READS = intEnv('BENCH_READS', 4000);
const WRITES = intEnv('BENCH_WRITES', 2000);
const DRIVER_WRITES = intEnv('BENCH_DRIVER_WRITES', WRITES);
const ROUNDS = intEnv('BENCH_ROUNDS', 4);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 16);
/** Conversations in the active working set (BENCH_ACTIVE): the ones being chatted in. */
const ACTIVE = intEnv('BENCH_ACTIVE', 200);
const READS_SEQUENTIAL = intEnv('BENCH_READS_SEQUENTIAL', 1000);
const WARM_UP_WRITES = 100;
const INGEST_CONVERSATIONS = 200;
const DB_NAME = 'wms_chat_bench';

const random = seededRandom(7);

function intEnv(name: string, fallback: number): number {
  const value = process.env[name];
  return value ? Number.parseInt(value, 10) : fallback;
}

interface StoreUnderTest {
  label: string;
  bench: BenchApp;
  conversations: SeededConversation[];
  tokens: Map<string, string>;
  agent: Agent;
}

/** Latencies and wall time of one ingest variant, gathered over the rounds. */
interface Ingest {
  label: string;
  latencies: number[];
  seconds: number;
}

function ratio(value: number, baseline: number): string {
  return `${(value / baseline).toFixed(2)}x`;
}

function perSecond(ingest: Ingest): number {
  return ingest.latencies.length / ingest.seconds;
}

function printIngest(ingest: Ingest): LatencySummary {
  const summary = summarize(ingest.latencies);
  process.stdout.write(`${formatRow(ingest.label, summary)}  ${perSecond(ingest).toFixed(0).padStart(6)} messages/s\n`);
  return summary;
}

function printIngestRatio(name: string, measured: Ingest, baseline: Ingest): void {
  const a = summarize(measured.latencies);
  const b = summarize(baseline.latencies);
  process.stdout.write(
    `${name}: throughput ${ratio(perSecond(baseline), perSecond(measured))} slower (${perSecond(measured).toFixed(0)} vs ` +
      `${perSecond(baseline).toFixed(0)} messages/s), p50 ${ratio(a.p50, b.p50)}, p95 ${ratio(a.p95, b.p95)}, p99 ${ratio(a.p99, b.p99)}\n`,
  );
}

/** Runs each variant's share of `total` tasks in turn, `ROUNDS` times, so the variants see the same machine. */
async function interleaved(
  total: number,
  variants: Array<{ label: string; task: (index: number) => Promise<void> }>,
  concurrency = CONCURRENCY,
): Promise<Ingest[]> {
  const results = variants.map(({ label }) => ({ label, latencies: [] as number[], seconds: 0 }));
  const perRound = Math.ceil(total / ROUNDS);
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [v, variant] of variants.entries()) {
      const started = process.hrtime.bigint();
      const latencies = await runConcurrently(perRound, concurrency, (i) => variant.task(round * perRound + i));
      results[v]!.seconds += Number(process.hrtime.bigint() - started) / 1e9;
      results[v]!.latencies.push(...latencies);
    }
  }
  return results;
}

/** The disk's own pace: appends of 4 KiB, each followed by an fsync, in a temporary file (one at a time). */
function fsyncLatencies(samples: number): number[] {
  const dir = mkdtempSync(join(tmpdir(), 'wms-chat-bench-fsync-'));
  const fd = openSync(join(dir, 'probe'), 'a');
  const block = Buffer.alloc(4096, 1);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < samples; i += 1) {
      const started = process.hrtime.bigint();
      writeSync(fd, block);
      fsyncSync(fd);
      latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return latencies;
}

async function startStore(label: string, persistence: 'memory' | 'persistent', messages: number): Promise<StoreUnderTest> {
  process.stdout.write(`\n== ${label} store ==\n`);
  const bench = await startBenchApp(
    DB_NAME,
    { CHAT_MAX_MESSAGES_PER_CONVERSATION: '100000', CHAT_RATE_LIMIT_PER_MINUTE: '100000' },
    { persistence },
  );
  const seedStart = Date.now();
  // Every store gets the same history.
  const conversations = await seedHistory(bench.db, { users: USERS, conversations: CONVERSATIONS, messages, random: seededRandom(42) });
  process.stdout.write(
    `seeded ${messages} messages in ${CONVERSATIONS} conversations of ${USERS} users in ${((Date.now() - seedStart) / 1000).toFixed(1)} s\n`,
  );
  const tokens = new Map(
    Array.from({ length: USERS }, (_, i) => [
      `user-${i}`,
      jwt.sign({ sub: `user-${i}`, roles: ['warehouse_operator'] }, BENCH_SECRET, { expiresIn: '2h' }),
    ]),
  );
  return { label, bench, conversations, tokens, agent: new Agent({ keepAlive: true, maxSockets: CONCURRENCY }) };
}

/** The app's message-cache reads by result (hit, fill, miss), from its /metrics. */
async function cacheReads(store: StoreUnderTest): Promise<Record<string, number>> {
  const text = await sendJsonOk(store.agent, store.bench.port, 'GET', '/metrics', '');
  const reads: Record<string, number> = { hit: 0, fill: 0, miss: 0 };
  for (const match of text.matchAll(/^chat_message_cache_reads_total\{result="(\w+)"\} (\d+)/gm)) reads[match[1]!] = Number(match[2]);
  return reads;
}

function hitRate(before: Record<string, number>, after: Record<string, number>): string {
  const delta = (key: string) => (after[key] ?? 0) - (before[key] ?? 0);
  const total = delta('hit') + delta('fill') + delta('miss');
  return `cache: ${delta('hit')} hits, ${delta('fill')} fills, ${delta('miss')} misses (hit rate ${total ? ((100 * delta('hit')) / total).toFixed(1) : '0.0'} %)`;
}

/**
 * History reads, API against the raw driver's query for the same page, in interleaved rounds:
 * over conversations picked uniformly from the whole history (most read once or twice: the cache
 * mostly misses), then over a working set of ACTIVE conversations (those people are chatting in,
 * which the cache is for), at CONCURRENCY and at 1.
 */
async function measureReads(store: StoreUnderTest): Promise<void> {
  const { bench, conversations, tokens, agent } = store;
  const driverPage = (c: SeededConversation) =>
    bench.db
      .collection('chat_messages')
      .find({ conversationId: c.id, userId: c.userId })
      .sort({ timestamp: 1, _id: 1 })
      .limit(51)
      .toArray();
  const apiPage = (c: SeededConversation) =>
    sendJsonOk(agent, bench.port, 'GET', `/api/v1/chat/conversations/${c.id.toHexString()}/messages?limit=50`, tokens.get(c.userId)!);

  const measure = async (title: string, picks: SeededConversation[], concurrency: number) => {
    const before = await cacheReads(store);
    const [driver, api] = await interleaved(
      picks.length,
      [
        { label: 'raw driver (baseline)', task: async (i) => void (await driverPage(picks[i % picks.length]!)) },
        { label: 'API over HTTP', task: async (i) => void (await apiPage(picks[i % picks.length]!)) },
      ],
      concurrency,
    );
    const after = await cacheReads(store);
    const d = summarize(driver!.latencies);
    const a = summarize(api!.latencies);
    process.stdout.write(`\n[${store.label}] GET /conversations/:id/messages?limit=50, ${title}, concurrency ${concurrency}\n`);
    process.stdout.write(`${formatRow('raw driver (baseline)', d)}\n`);
    process.stdout.write(`${formatRow('API over HTTP', a)}\n`);
    process.stdout.write(
      `ratio API/driver: p50 ${ratio(a.p50, d.p50)}  p95 ${ratio(a.p95, d.p95)}  p99 ${ratio(a.p99, d.p99)}  ${hitRate(before, after)}\n`,
    );
  };

  const uniform = Array.from({ length: READS }, () => conversations[Math.floor(random() * conversations.length)]!);
  // Warm both paths so neither pays first-call costs inside the measurement.
  await runConcurrently(200, CONCURRENCY, async (i) => {
    await apiPage(uniform[i % uniform.length]!);
    await driverPage(uniform[i % uniform.length]!);
  });
  await measure(`${conversations.length} conversations picked uniformly`, uniform, CONCURRENCY);

  const active = conversations.slice(0, Math.min(ACTIVE, conversations.length));
  const activePicks = Array.from({ length: READS }, () => active[Math.floor(random() * active.length)]!);
  await measure(`${active.length} active conversations`, activePicks, CONCURRENCY);
  await measure(`${active.length} active conversations`, activePicks.slice(0, READS_SEQUENTIAL), 1);
}

/** POST /conversations/:id/messages (reply: false), spread over the first 200 conversations. */
function apiWrite(store: StoreUnderTest): (index: number) => Promise<void> {
  return async (index) => {
    const c = store.conversations[index % Math.min(INGEST_CONVERSATIONS, store.conversations.length)]!;
    await sendJsonOk(
      store.agent,
      store.bench.port,
      'POST',
      `/api/v1/chat/conversations/${c.id.toHexString()}/messages`,
      store.tokens.get(c.userId)!,
      {
        content: chatText(random, 12),
        reply: false,
      },
    );
  };
}

/**
 * A raw driver insertOne of a message shaped as the app stores it, into chat_messages (same
 * indexes as the API's inserts), for conversations of its own so `{conversationId, seq}` stays unique.
 */
function driverInsert(db: mongoose.mongo.Db, options: mongoose.mongo.InsertOneOptions): (index: number) => Promise<void> {
  const conversations = Array.from({ length: INGEST_CONVERSATIONS }, () => new mongoose.Types.ObjectId());
  const seqs = new Map<number, number>();
  return async (index) => {
    const slot = index % conversations.length;
    const seq = (seqs.get(slot) ?? 0) + 1;
    seqs.set(slot, seq);
    const now = new Date();
    await db.collection('chat_messages').insertOne(
      {
        conversationId: conversations[slot],
        userId: `user-${slot % USERS}`,
        type: 'user',
        content: chatText(random, 12),
        metadata: {},
        timestamp: now,
        seq,
        createdAt: now,
        updatedAt: now,
      },
      options,
    );
  };
}

async function main(): Promise<void> {
  const external = Boolean(process.env.MONGODB_URI);
  const stores: StoreUnderTest[] = [];
  try {
    if (external) {
      stores.push(await startStore('MONGODB_URI', 'memory', MESSAGES));
    } else {
      stores.push(await startStore('memory', 'memory', MESSAGES));
      await measureReads(stores[0]!);
      stores.push(await startStore('persistent', 'persistent', MESSAGES_PERSISTENT));
    }
    await measureReads(stores[stores.length - 1]!);

    // Ingest through the API, the stores taking turns.
    const apiVariants = stores.map((store) => ({ label: `API ingest, ${store.label}`, task: apiWrite(store) }));
    await interleaved(WARM_UP_WRITES * ROUNDS, apiVariants);
    const api = await interleaved(WRITES, apiVariants);
    process.stdout.write(`\nPOST /conversations/:id/messages (reply: false), concurrency ${CONCURRENCY}, ${ROUNDS} interleaved rounds\n`);
    api.forEach(printIngest);
    if (api.length === 2) printIngestRatio('API ingest persistent / memory', api[1]!, api[0]!);

    // The cost of durable commits: the same inserts answered after the fsync, and before it.
    const durableStore = stores[stores.length - 1]!;
    const driverVariants = [
      { label: 'driver insert, durable', task: driverInsert(durableStore.bench.db, {}) },
      { label: 'driver insert, j: false', task: driverInsert(durableStore.bench.db, { writeConcern: { j: false } }) },
      ...(external ? [] : [{ label: 'driver insert, memory', task: driverInsert(stores[0]!.bench.db, {}) }]),
    ];
    await interleaved(WARM_UP_WRITES * ROUNDS, driverVariants);
    const driver = await interleaved(DRIVER_WRITES, driverVariants);
    process.stdout.write(
      `\n[${durableStore.label}] raw driver insertOne of message documents, concurrency ${CONCURRENCY}, ${ROUNDS} interleaved rounds\n`,
    );
    driver.forEach(printIngest);
    if (!external) process.stdout.write(`${formatRow('disk: 4 KiB append + fsync', summarize(fsyncLatencies(200)))}  (one at a time)\n`);
    printIngestRatio('durable / j: false (cost of the commit and fsync before the answer)', driver[0]!, driver[1]!);
    if (driver.length === 3) printIngestRatio('j: false / memory', driver[1]!, driver[2]!);
  } finally {
    for (const store of stores) {
      store.agent.destroy();
      await store.bench.close();
    }
  }
}

runBenchmark(main);
