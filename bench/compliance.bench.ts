import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import jwt from 'jsonwebtoken';
import mongoose from 'mongoose';
import { ownerDirectory, storageKeyFor } from '../src/attachments/storage/attachment-storage.js';
import { type AppProcess, sleep, startAppProcess, rssMb } from './lib/app-process.js';
import { seedHistory } from './lib/history-seed.js';
import { sendJson } from './lib/http.js';
import { runBenchmark, seededRandom } from './lib/stats.js';

/**
 * npm run bench:compliance — exporting and erasing one person with a large history, through the
 * real server process (`node dist/src/main.js` on the persistent embedded store, as `npm start`
 * runs it), against the raw driver doing the least the same job needs, in the same run.
 *
 * Two users get the same data, seeded through the driver as the app stores it: 100,000 messages
 * (BENCH_COMPLIANCE_MESSAGES) in 100 conversations and 200 MB of attachment files
 * (BENCH_COMPLIANCE_FILES_MB, in 10 MB files) in the local storage driver. Then:
 *
 * - **export**: `GET /api/v1/chat/user/data-export` (the streamed GDPR archive: JSON Lines, CSV,
 *   files, manifest with SHA-256 of every entry), read to the end, against the baseline: the
 *   second user's documents read through the driver as JSON lines and their files read from disk,
 *   both hashed (what any dump must at least do);
 * - **erasure**: `DELETE /api/v1/chat/admin/users/:userId/data` for the first user, against
 *   `deleteMany` by `userId` on every collection plus removing the user's file directory for the second.
 *
 * The server process's RSS is sampled from /proc every 50 ms during each API step; its growth
 * over the RSS just before must stay within 64 MB (exit code 1 otherwise).
 */
const MESSAGES = Number(process.env.BENCH_COMPLIANCE_MESSAGES ?? 100_000);
const FILES_MB = Number(process.env.BENCH_COMPLIANCE_FILES_MB ?? 200);
const FILE_MB = 10;
const CONVERSATIONS = 100;
const RSS_BUDGET_MB = 64;
const SECRET = 'bench-secret-bench-secret-bench-secret';
const DB_NAME = 'wms_chat';
const USER_COLLECTIONS = ['chat_conversations', 'chat_messages', 'chat_attachments', 'chat_message_feedback', 'chat_user_preferences'];

interface Step {
  ms: number;
  bytes: number;
  rssBeforeMb: number;
  rssPeakMb: number;
}

function token(sub: string, roles: string[]): string {
  return jwt.sign({ sub, roles }, SECRET, { algorithm: 'HS256', expiresIn: '2h' });
}

/** Runs `work` while sampling the app's RSS; answers the time, the peak and the RSS just before. */
async function measured(app: AppProcess, work: () => Promise<number>): Promise<Step> {
  const pid = app.child.pid!;
  const rssBeforeMb = await rssMb(pid);
  let rssPeakMb = rssBeforeMb;
  const sampler = setInterval(() => void rssMb(pid).then((rss) => (rssPeakMb = Math.max(rssPeakMb, rss))), 50);
  const started = performance.now();
  try {
    const bytes = await work();
    return { ms: performance.now() - started, bytes, rssBeforeMb, rssPeakMb: Math.max(rssPeakMb, await rssMb(pid)) };
  } finally {
    clearInterval(sampler);
  }
}

/** Seeds one user's attachments: records as the app stores them and their bytes in the local driver's layout. */
async function seedFiles(db: mongoose.mongo.Db, attachmentsDir: string, userId: string, conversationIds: mongoose.Types.ObjectId[]) {
  const chunk = randomBytes(1024 * 1024);
  const count = Math.max(1, Math.round(FILES_MB / FILE_MB));
  for (let index = 0; index < count; index += 1) {
    const id = new mongoose.Types.ObjectId();
    const conversationId = conversationIds[index % conversationIds.length]!;
    const message = await db.collection('chat_messages').findOne({ conversationId, type: 'user' }, { projection: { _id: 1 } });
    const key = storageKeyFor(userId, id.toHexString());
    const path = join(attachmentsDir, key);
    await mkdir(join(attachmentsDir, ownerDirectory(userId)), { recursive: true });
    const hash = createHash('sha256');
    const out = createWriteStream(path);
    for (let mb = 0; mb < FILE_MB; mb += 1) {
      chunk[0] = mb;
      chunk[1] = index;
      hash.update(chunk);
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
    const now = new Date();
    await db.collection('chat_attachments').insertOne({
      _id: id,
      userId,
      conversationId,
      messageId: message!._id,
      fileType: 'document',
      mimeType: 'application/octet-stream',
      extension: 'bin',
      originalName: `scan-${index}.bin`,
      fileSize: FILE_MB * 1024 * 1024,
      sha256: hash.digest('hex'),
      storage: { driver: 'local', key },
      processingStatus: 'processed',
      processingError: null,
      processingAttempts: 1,
      parserCrashes: 0,
      claimedUntil: null,
      extractedText: null,
      metadata: {},
      thumbnail: null,
      processedAt: now,
      createdAt: now,
      updatedAt: now,
    });
  }
}

/** Streams a GET to its end, hashing the body; answers the byte count. */
function download(app: AppProcess, path: string, bearer: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: app.port, path, headers: { Authorization: `Bearer ${bearer}` } }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => reject(new Error(`GET ${path}: ${res.statusCode} ${body.slice(0, 300)}`)));
        return;
      }
      const hash = createHash('sha256');
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      res.on('end', () => resolve(bytes));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The baseline dump: every document of the user as a JSON line, and the user's files, all hashed. */
async function rawDump(db: mongoose.mongo.Db, attachmentsDir: string, userId: string): Promise<number> {
  const hash = createHash('sha256');
  let bytes = 0;
  for (const name of USER_COLLECTIONS) {
    for await (const document of db.collection(name).find({ userId })) {
      const line = `${JSON.stringify(document)}\n`;
      bytes += Buffer.byteLength(line);
      hash.update(line);
    }
  }
  const directory = join(attachmentsDir, ownerDirectory(userId));
  for (const file of await readdir(directory)) {
    await pipeline(
      createReadStream(join(directory, file)),
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          hash.update(chunk);
          done();
        },
      }),
    );
  }
  hash.digest();
  return bytes;
}

async function rawErase(db: mongoose.mongo.Db, attachmentsDir: string, userId: string): Promise<number> {
  let removed = 0;
  for (const name of USER_COLLECTIONS) removed += (await db.collection(name).deleteMany({ userId })).deletedCount;
  await rm(join(attachmentsDir, ownerDirectory(userId)), { recursive: true, force: true });
  return removed;
}

/** Erases through the admin route; follows the receipt when the erasure answers before it has finished. */
async function apiErase(app: AppProcess, userId: string, admin: string): Promise<number> {
  const answer = await sendJson(app.agent, app.port, 'DELETE', `/api/v1/chat/admin/users/${userId}/data`, admin, undefined, 30 * 60_000);
  if (answer.status !== 200 && answer.status !== 202) throw new Error(`erasure: ${answer.status} ${answer.body.slice(0, 300)}`);
  let receipt = JSON.parse(answer.body) as { erasureId: string; state: string; counts: Record<string, number> };
  while (receipt.state !== 'done') {
    if (receipt.state === 'failed') throw new Error(`erasure failed: ${JSON.stringify(receipt)}`);
    await sleep(200);
    const poll = await sendJson(app.agent, app.port, 'GET', `/api/v1/chat/admin/erasures/${receipt.erasureId}`, admin);
    receipt = JSON.parse(poll.body) as typeof receipt;
  }
  return Object.values(receipt.counts).reduce((sum, count) => sum + count, 0);
}

function line(name: string, step: Step, unit: string): string {
  const growth = step.rssPeakMb - step.rssBeforeMb;
  return (
    `  ${name.padEnd(30)} ${(step.ms / 1000).toFixed(2).padStart(7)} s  ${unit.padStart(14)}` +
    (step.rssBeforeMb > 0
      ? `  server RSS ${step.rssBeforeMb.toFixed(0)} → peak ${step.rssPeakMb.toFixed(0)} MB (+${growth.toFixed(1)})`
      : '')
  );
}

runBenchmark(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-compliance-'));
  const attachmentsDir = join(dataDir, 'attachments');
  let app: AppProcess | undefined;
  let client: typeof mongoose | undefined;
  try {
    app = await startAppProcess({
      NODE_ENV: 'production',
      JWT_SECRET: SECRET,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
      DATA_DIR: dataDir,
      ENABLE_DATA_RETENTION: 'false',
    });
    const storePort = app.storePort();
    if (!storePort) throw new Error('the embedded store port was not found');
    client = await mongoose.connect(`mongodb://127.0.0.1:${storePort}/${DB_NAME}`);
    const db = client.connection.db!;

    const apiUser = 'bench-subject-api';
    const rawUser = 'bench-subject-raw';
    process.stdout.write(
      `${`seeding two users, each ${MESSAGES} messages in ${CONVERSATIONS} conversations and ${FILES_MB} MB of files...`}\n`,
    );
    for (const [userPrefix, seed] of [
      [apiUser, 1],
      [rawUser, 1],
    ] as const) {
      const conversations = await seedHistory(db, {
        users: 1,
        conversations: CONVERSATIONS,
        messages: MESSAGES,
        random: seededRandom(seed),
        userPrefix,
        searchTerms: true,
      });
      // seedHistory names owners `${userPrefix}${index % users}`: rename to the plain id.
      await Promise.all(
        ['chat_conversations', 'chat_messages'].map((name) =>
          db.collection(name).updateMany({ userId: `${userPrefix}0` }, { $set: { userId: userPrefix } }),
        ),
      );
      await seedFiles(
        db,
        attachmentsDir,
        userPrefix,
        conversations.map((conversation) => conversation.id),
      );
    }
    const fileBytes = (await readdir(join(attachmentsDir, ownerDirectory(apiUser)))).length * FILE_MB * 1024 * 1024;
    process.stdout.write(`seeded; files on disk per user: ${(fileBytes / 1024 / 1024).toFixed(0)} MB\n`);
    await sleep(2000);

    const rawExport = await measured(app, () => rawDump(db, attachmentsDir, rawUser));
    rawExport.rssBeforeMb = rawExport.rssPeakMb = 0;
    const apiExport = await measured(app, () => download(app!, '/api/v1/chat/user/data-export', token(apiUser, ['warehouse_operator'])));
    const rawDelete = await measured(app, () => rawErase(db, attachmentsDir, rawUser));
    rawDelete.rssBeforeMb = rawDelete.rssPeakMb = 0;
    const apiDelete = await measured(app, () => apiErase(app!, apiUser, token('bench-admin', ['admin'])));
    const left = await Promise.all(USER_COLLECTIONS.map((name) => db.collection(name).countDocuments({ userId: apiUser })));
    const filesLeft = await stat(join(attachmentsDir, ownerDirectory(apiUser))).then(
      async () => (await readdir(join(attachmentsDir, ownerDirectory(apiUser)))).length,
      () => 0,
    );

    process.stdout.write(
      `${`\nbench:compliance — ${MESSAGES} messages and ${FILES_MB} MB of files per user, persistent embedded store`}\n`,
    );
    process.stdout.write(`${line('export, raw driver + files', rawExport, `${(rawExport.bytes / 1024 / 1024).toFixed(0)} MB read`)}\n`);
    process.stdout.write(`${line('export, API archive', apiExport, `${(apiExport.bytes / 1024 / 1024).toFixed(0)} MB zip`)}\n`);
    process.stdout.write(`  export ratio (API / raw): ${(apiExport.ms / rawExport.ms).toFixed(2)}×\n`);
    process.stdout.write(`${line('erasure, raw deleteMany + rm', rawDelete, `${rawDelete.bytes} docs`)}\n`);
    process.stdout.write(`${line('erasure, API', apiDelete, `${apiDelete.bytes} removed`)}\n`);
    process.stdout.write(`  erasure ratio (API / raw): ${(apiDelete.ms / rawDelete.ms).toFixed(2)}×\n`);
    process.stdout.write(
      `${`  left after the API erasure: ${left.reduce((sum, count) => sum + count, 0)} documents, ${filesLeft} files`}\n`,
    );
    const growths = [apiExport, apiDelete].map((step) => step.rssPeakMb - step.rssBeforeMb);
    const over = growths.some((growth) => growth > RSS_BUDGET_MB);
    process.stdout.write(`  server RSS growth within ${RSS_BUDGET_MB} MB: ${over ? 'NO' : 'yes'}\n`);
    if (over || filesLeft > 0 || left.some((count) => count > 0)) process.exitCode = 1;
  } finally {
    await client?.disconnect();
    app?.signalGroup('SIGTERM');
    await Promise.race([app?.exited, sleep(15_000)]);
    app?.signalGroup('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }
});
