import { Agent, request } from 'node:http';
import jwt from 'jsonwebtoken';
import { parseSearchQuery } from '../src/search/search-query.js';
import { RARE_WORDS, WORDS, seedHistory } from './lib/history-seed.js';
import { BENCH_SECRET, startBenchApp } from './lib/bench-app.js';
import { sendJsonOk } from './lib/http.js';
import { formatRow, runBenchmark, runConcurrently, seededRandom, summarize } from './lib/stats.js';

/**
 * npm run bench:search — on the history benchmark's history (200k messages, 2k conversations,
 * 200 users, with the search terms the app stores), in one run:
 *  - search queries over HTTP (single common word, single rare word, two words, a phrase, a word
 *    with a date filter), message search and conversation search, for random users;
 *  - baseline: the raw driver's indexed lookup for the same user and terms (the query the
 *    message search sends first, newest 21 by time);
 *  - peak memory growth of the process while one user's 100k-message history is exported (JSON, CSV, zip).
 * Tunables: BENCH_USERS, BENCH_CONVERSATIONS, BENCH_MESSAGES, BENCH_EXPORT_MESSAGES, BENCH_QUERIES, BENCH_CONCURRENCY.
 */
const USERS = intEnv('BENCH_USERS', 200);
const CONVERSATIONS = intEnv('BENCH_CONVERSATIONS', 2000);
const MESSAGES = intEnv('BENCH_MESSAGES', 200_000);
const EXPORT_MESSAGES = intEnv('BENCH_EXPORT_MESSAGES', 100_000);
const QUERIES = intEnv('BENCH_QUERIES', 400);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 8);
const DB_NAME = 'wms_chat_bench_search';
const EXPORT_USER = 'export-user';

function intEnv(name: string, fallback: number): number {
  const value = process.env[name];
  return value ? Number.parseInt(value, 10) : fallback;
}

const random = seededRandom(7);
const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;

const QUERY_KINDS: { name: string; make: () => { q: string; from?: string } }[] = [
  { name: 'one common word', make: () => ({ q: pick(WORDS) }) },
  { name: 'one rare word', make: () => ({ q: pick(RARE_WORDS) }) },
  { name: 'two words', make: () => ({ q: `${pick(WORDS)} ${pick(RARE_WORDS)}` }) },
  { name: 'phrase', make: () => ({ q: `"${pick(WORDS)} ${pick(WORDS)}"` }) },
  { name: 'word + date filter', make: () => ({ q: pick(WORDS), from: '2026-01-20T00:00:00Z' }) },
];

/** Streams a GET to nowhere, counting bytes. */
function drain(port: number, path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(bytes) : reject(new Error(`${path}: ${res.statusCode}`))));
    })
      .on('error', reject)
      .end();
  });
}

/**
 * Exports to nowhere while watching the process's memory. RSS does not shrink after the seeding's
 * garbage is collected, and the heap's high-water mark is mostly garbage awaiting collection, so
 * the telling figure is what survives a full collection: with `collect`, every 250 ms the
 * benchmark forces one (--expose-gc) and reads the live heap plus Buffers. If the export held its
 * data, that would grow with the number of messages. Timing comes from a run without forced
 * collections.
 */
async function measureExport(
  port: number,
  path: string,
  token: string,
  collect: boolean,
): Promise<{ ms: number; bytes: number; growthMb: number }> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const live = () => {
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.external;
  };
  gc();
  const before = live();
  let high = before;
  const sampler = setInterval(
    () => {
      if (collect) gc();
      high = Math.max(high, live());
    },
    collect ? 250 : 20,
  );
  const started = process.hrtime.bigint();
  const bytes = await drain(port, path, token);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  clearInterval(sampler);
  return { ms, bytes, growthMb: (high - before) / 1024 / 1024 };
}

async function main(): Promise<void> {
  const { port, db, close } = await startBenchApp(DB_NAME);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  try {
    const seedStart = Date.now();
    await seedHistory(db, { users: USERS, conversations: CONVERSATIONS, messages: MESSAGES, random, searchTerms: true });
    await seedHistory(db, { users: 1, conversations: 100, messages: EXPORT_MESSAGES, random, searchTerms: true, userPrefix: EXPORT_USER });
    process.stdout.write(
      `seeded ${MESSAGES} messages (${CONVERSATIONS} conversations, ${USERS} users) + ${EXPORT_MESSAGES} for one user to export, ` +
        `in ${((Date.now() - seedStart) / 1000).toFixed(1)} s\n`,
    );
    const token = (user: string) => jwt.sign({ sub: user, roles: ['warehouse_operator'] }, BENCH_SECRET, { expiresIn: '1h' });
    const tokens = Array.from({ length: USERS }, (_, i) => token(`user-${i}`));

    // Let both processes settle after seeding (the store's JVM collects the seeding's garbage).
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    process.stdout.write(`\nsearch, concurrency ${CONCURRENCY}, ${QUERIES} queries per row (after 100 warm-up queries)\n`);
    for (const kind of QUERY_KINDS) {
      const cases = Array.from({ length: QUERIES }, () => ({ user: Math.floor(random() * USERS), ...kind.make() }));
      const path = (route: string, c: (typeof cases)[number]) =>
        `/api/v1/chat/${route}/search?q=${encodeURIComponent(c.q)}${c.from ? `&from=${encodeURIComponent(c.from)}` : ''}`;
      const driverLookup = async (c: (typeof cases)[number]) => {
        const terms = parseSearchQuery(c.q).terms.all;
        await db
          .collection('chat_messages')
          .find({ userId: `user-${c.user}`, searchTerms: { $all: terms }, ...(c.from ? { timestamp: { $gte: new Date(c.from) } } : {}) })
          .sort({ timestamp: -1, _id: -1 })
          .limit(21)
          .toArray();
      };
      await runConcurrently(100, CONCURRENCY, async (n) => {
        const i = n % cases.length;
        await driverLookup(cases[i]!);
        await sendJsonOk(agent, port, 'GET', path('messages', cases[i]!), tokens[cases[i]!.user]!);
      });
      const driver = summarize(await runConcurrently(QUERIES, CONCURRENCY, (i) => driverLookup(cases[i]!)));
      const messages = summarize(
        await runConcurrently(
          QUERIES,
          CONCURRENCY,
          async (i) => void (await sendJsonOk(agent, port, 'GET', path('messages', cases[i]!), tokens[cases[i]!.user]!)),
        ),
      );
      const conversations = summarize(
        await runConcurrently(
          QUERIES,
          CONCURRENCY,
          async (i) => void (await sendJsonOk(agent, port, 'GET', path('conversations', cases[i]!), tokens[cases[i]!.user]!)),
        ),
      );
      process.stdout.write(`\n${kind.name} (e.g. ${JSON.stringify(cases[0]!.q)})\n`);
      process.stdout.write(`${formatRow('  raw driver lookup', driver)}\n`);
      process.stdout.write(
        `${formatRow('  GET /messages/search', messages)}   ratio p50 ${(messages.p50 / driver.p50).toFixed(2)}x p99 ${(messages.p99 / driver.p99).toFixed(2)}x\n`,
      );
      process.stdout.write(
        `${formatRow('  GET /conversations/search', conversations)}   ratio p50 ${(conversations.p50 / driver.p50).toFixed(2)}x p99 ${(conversations.p99 / driver.p99).toFixed(2)}x\n`,
      );
    }

    process.stdout.write(`\nexport of ${EXPORT_MESSAGES} messages in 100 conversations (live heap + buffers)\n`);
    for (const format of ['json', 'csv', 'zip']) {
      const path = `/api/v1/chat/conversations/export?format=${format}`;
      const timed = await measureExport(port, path, token(`${EXPORT_USER}0`), false);
      const retained = await measureExport(port, path, token(`${EXPORT_USER}0`), true);
      process.stdout.write(
        `  ${format.padEnd(5)} ${(timed.bytes / 1024 / 1024).toFixed(1).padStart(6)} MB in ${timed.ms.toFixed(0).padStart(6)} ms ` +
          `(${(EXPORT_MESSAGES / (timed.ms / 1000)).toFixed(0)} messages/s); memory growth: peak with garbage ${timed.growthMb.toFixed(1)} MB, ` +
          `retained after GC ${retained.growthMb.toFixed(1)} MB\n`,
      );
    }
  } finally {
    agent.destroy();
    await close();
  }
}

runBenchmark(main);
