import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import mongoose from 'mongoose';
import { createApp } from '../src/bootstrap.js';
import { loadAppConfig } from '../src/common/config/app-config.js';
import { resolveMongoStore } from '../src/database/store/mongo-store.js';
import { sendJsonOk } from './lib/http.js';
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
const SECRET = 'bench-secret-bench-secret-bench-secret';
const DB_NAME = 'wms_chat_bench';

const random = seededRandom(42);
const WORDS =
  'pick pack tote pallet aisle bay slot scan label carton wave zone dock trailer cycle count replenish short damaged lot expiry sku lpn putaway staging shipment carrier manifest'.split(
    ' ',
  );

function intEnv(name: string, fallback: number): number {
  const value = process.env[name];
  return value ? Number.parseInt(value, 10) : fallback;
}

/** Log-normal message length: user turns short, assistant turns longer, with a long tail. */
function chatText(meanWords: number): string {
  const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const words = Math.max(1, Math.round(Math.exp(Math.log(meanWords) + 0.8 * gaussian)));
  return Array.from({ length: words }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
}

/** Conversation sizes skewed like real chat: most short, a few very long (sums to MESSAGES). */
function conversationSizes(): number[] {
  const weights = Array.from({ length: CONVERSATIONS }, () => (-Math.log(1 - random())) ** 1.6);
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const sizes = weights.map((weight) => Math.max(2, Math.round((weight / total) * MESSAGES)));
  let drift = MESSAGES - sizes.reduce((sum, size) => sum + size, 0);
  for (let i = 0; drift !== 0; i = (i + 1) % sizes.length) {
    if (drift > 0) {
      sizes[i]! += 1;
      drift -= 1;
    } else if (sizes[i]! > 2) {
      sizes[i]! -= 1;
      drift += 1;
    }
  }
  return sizes;
}

interface SeededConversation {
  id: mongoose.Types.ObjectId;
  userId: string;
  size: number;
}

async function seed(db: mongoose.mongo.Db): Promise<SeededConversation[]> {
  const sizes = conversationSizes();
  const start = Date.parse('2026-01-01T00:00:00Z');
  const conversations = sizes.map((size, index) => ({ id: new mongoose.Types.ObjectId(), userId: `user-${index % USERS}`, size }));
  let batch: Record<string, unknown>[] = [];
  const flush = async () => {
    if (batch.length > 0) await db.collection('chat_messages').insertMany(batch, { ordered: false });
    batch = [];
  };
  for (const [index, conversation] of conversations.entries()) {
    const created = new Date(start + index * 60_000);
    let time = created.getTime();
    for (let seq = 1; seq <= conversation.size; seq += 1) {
      time += 1000 + Math.floor(random() * 120_000);
      const type = seq % 2 === 1 ? 'user' : 'assistant';
      batch.push({
        conversationId: conversation.id,
        userId: conversation.userId,
        type,
        content: chatText(type === 'user' ? 12 : 60),
        metadata: {},
        timestamp: new Date(time),
        seq,
        createdAt: new Date(time),
        updatedAt: new Date(time),
        ...(type === 'assistant' ? { tokensUsed: { prompt: 300, completion: 80, total: 380 }, processingTime: 900 } : {}),
      });
      if (batch.length === 5000) await flush();
    }
    await db.collection('chat_conversations').insertOne({
      _id: conversation.id,
      userId: conversation.userId,
      title: `Conversation ${index}`,
      role: 'warehouse_operator',
      agentKey: 'picking-assistant',
      status: 'active',
      metadata: {},
      lastMessageAt: new Date(time),
      lastActivityAt: new Date(time),
      messageCount: conversation.size,
      lastSeq: conversation.size,
      archivedAt: null,
      deletedAt: null,
      createdAt: created,
      updatedAt: new Date(time),
    });
  }
  await flush();
  return conversations;
}

async function main(): Promise<void> {
  const store = await resolveMongoStore({ uri: process.env.MONGODB_URI, persistence: 'memory' });
  process.stdout.write(`store: ${store.description}\n`);
  const config = loadAppConfig({
    NODE_ENV: 'production',
    JWT_SECRET: SECRET,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
    CHAT_MAX_MESSAGES_PER_CONVERSATION: '100000',
  });
  const app = await createApp({ config, database: { uri: store.uri, dbName: DB_NAME } });
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const client = await new mongoose.mongo.MongoClient(store.uri).connect();
  const db = client.db(DB_NAME);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  try {
    await db.collection('chat_messages').deleteMany({});
    await db.collection('chat_conversations').deleteMany({});
    const seedStart = Date.now();
    const conversations = await seed(db);
    const seedSeconds = (Date.now() - seedStart) / 1000;
    process.stdout.write(
      `seeded ${MESSAGES} messages in ${CONVERSATIONS} conversations of ${USERS} users in ${seedSeconds.toFixed(1)} s\n`,
    );

    const tokens = new Map(
      Array.from({ length: USERS }, (_, i) => [`user-${i}`, jwt.sign({ sub: `user-${i}`, roles: ['warehouse_operator'] }, SECRET)]),
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
          content: chatText(12),
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
    await db.dropDatabase();
    await client.close();
    await app.close();
    await store.stop();
  }
}

runBenchmark(main);
