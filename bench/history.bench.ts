import { Agent } from 'node:http';
import jwt from 'jsonwebtoken';
import { BENCH_SECRET, startBenchApp } from './lib/bench-app.js';
import { sendJsonOk } from './lib/http.js';
import { SeededConversation, chatText, seedHistory } from './lib/history-seed.js';
import { formatRow, runBenchmark, runConcurrently, seededRandom, summarize } from './lib/stats.js';

/**
 * npm run bench:history — seeds a chat-like history, then measures, on the same store in one run:
 *  - GET /conversations/:id/messages?limit=50 over HTTP (concurrency 16)
 *  - the same query through the raw driver (concurrency 16): the baseline
 *  - ingest throughput of POST /conversations/:id/messages
 * Sizes are tunable: BENCH_USERS, BENCH_CONVERSATIONS, BENCH_MESSAGES, BENCH_READS, BENCH_WRITES.
 */
const USERS = intEnv('BENCH_USERS', 200);
const CONVERSATIONS = intEnv('BENCH_CONVERSATIONS', 2000);
const MESSAGES = intEnv('BENCH_MESSAGES', 200_000);
const READS = intEnv('BENCH_READS', 4000);
const WRITES = intEnv('BENCH_WRITES', 2000);
const CONCURRENCY = intEnv('BENCH_CONCURRENCY', 16);
const DB_NAME = 'wms_chat_bench';

const random = seededRandom(42);

function intEnv(name: string, fallback: number): number {
  const value = process.env[name];
  return value ? Number.parseInt(value, 10) : fallback;
}

async function main(): Promise<void> {
  const { port, db, close } = await startBenchApp(DB_NAME, { CHAT_MAX_MESSAGES_PER_CONVERSATION: '100000' });
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  try {
    const seedStart = Date.now();
    const conversations = await seedHistory(db, { users: USERS, conversations: CONVERSATIONS, messages: MESSAGES, random });
    const seedSeconds = (Date.now() - seedStart) / 1000;
    process.stdout.write(
      `seeded ${MESSAGES} messages in ${CONVERSATIONS} conversations of ${USERS} users in ${seedSeconds.toFixed(1)} s\n`,
    );

    const tokens = new Map(
      Array.from({ length: USERS }, (_, i) => [`user-${i}`, jwt.sign({ sub: `user-${i}`, roles: ['warehouse_operator'] }, BENCH_SECRET)]),
    );
    const picks = Array.from({ length: READS }, () => conversations[Math.floor(random() * conversations.length)]!);

    const driverPage = (c: SeededConversation) =>
      db.collection('chat_messages').find({ conversationId: c.id, userId: c.userId }).sort({ timestamp: 1, _id: 1 }).limit(51).toArray();
    const apiPage = (c: SeededConversation) =>
      sendJsonOk(agent, port, 'GET', `/api/v1/chat/conversations/${c.id.toHexString()}/messages?limit=50`, tokens.get(c.userId)!);

    // Warm both paths so neither pays first-call costs inside the measurement.
    await runConcurrently(200, CONCURRENCY, async (i) => {
      await apiPage(picks[i % picks.length]!);
      await driverPage(picks[i % picks.length]!);
    });
    const driver = summarize(await runConcurrently(READS, CONCURRENCY, async (i) => void (await driverPage(picks[i]!))));
    const api = summarize(await runConcurrently(READS, CONCURRENCY, async (i) => void (await apiPage(picks[i]!))));

    const writeStart = process.hrtime.bigint();
    const writes = summarize(
      await runConcurrently(WRITES, CONCURRENCY, async (i) => {
        const c = conversations[i % 200]!;
        await sendJsonOk(agent, port, 'POST', `/api/v1/chat/conversations/${c.id.toHexString()}/messages`, tokens.get(c.userId)!, {
          content: chatText(random, 12),
          reply: false,
        });
      }),
    );
    const writeSeconds = Number(process.hrtime.bigint() - writeStart) / 1e9;

    process.stdout.write('\nGET /conversations/:id/messages?limit=50, concurrency ' + CONCURRENCY + '\n');
    process.stdout.write(`${formatRow('raw driver (baseline)', driver)}\n`);
    process.stdout.write(`${formatRow('API over HTTP', api)}\n`);
    process.stdout.write(
      `ratio API/driver: p50 ${(api.p50 / driver.p50).toFixed(2)}x  p95 ${(api.p95 / driver.p95).toFixed(2)}x  p99 ${(api.p99 / driver.p99).toFixed(2)}x\n`,
    );
    process.stdout.write(`\nPOST /conversations/:id/messages, concurrency ${CONCURRENCY}\n`);
    process.stdout.write(`${formatRow('ingest', writes)}\n`);
    process.stdout.write(`ingest throughput: ${(WRITES / writeSeconds).toFixed(0)} messages/s\n`);
  } finally {
    agent.destroy();
    await close();
  }
}

runBenchmark(main);
