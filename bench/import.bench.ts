import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { resolveMongoStore } from '../src/database/store/mongo-store.js';
import { writeLegacyDump } from '../test/support/legacy-dump.js';

/**
 * `npm run bench:import`: `npm run import:legacy` of a generated legacy dump of 100,000 messages
 * (BENCH_IMPORT_MESSAGES) in every shape and message form, with malformed records, on the store
 * `npm start` uses (the persistent embedded store, or MONGODB_URI). The command runs as an
 * operator runs it (its own process, its peak RSS sampled); the baseline is the driver's raw
 * `insertMany` of the very documents the import wrote, into an empty collection of the same store
 * with the same indexes, in batches of 1,000. Prints messages per second of both and their ratio.
 */
const MESSAGES = Number(process.env.BENCH_IMPORT_MESSAGES ?? 100_000);
const USERS = Number(process.env.BENCH_IMPORT_USERS ?? 500);
const RAW_BATCH = 1000;
const CLI = join(process.cwd(), 'dist/src/legacy-import/legacy-import.cli.js');

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : 0;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-import-'));
  const dataDir = join(work, 'data');
  const dumpPath = join(work, 'chat_backup.json');
  const store = await resolveMongoStore({ uri: process.env.MONGODB_URI, persistence: { dataDir } });
  const client = await new mongoose.mongo.MongoClient(store.uri).connect();
  try {
    const stats = await writeLegacyDump(dumpPath, { messages: MESSAGES, users: USERS, malformed: { maxMessageLength: 32000 } });
    const size = (await stat(dumpPath)).size;
    process.stdout.write(
      `store: ${store.description}\ndump: ${stats.messages.toLocaleString('en-US')} messages (${stats.records.toLocaleString('en-US')} records, ` +
        `${stats.rejected} malformed) of ${stats.users} users in ${stats.conversations.toLocaleString('en-US')} conversations, ${(size / 1024 / 1024).toFixed(1)} MB\n`,
    );

    const dbName = 'bench_import';
    const started = Date.now();
    const child = spawn(process.execPath, [CLI, dumpPath, '--report', join(work, 'report.json')], {
      env: { ...process.env, MONGODB_URI: store.uri, MONGODB_DB_NAME: dbName, DATA_DIR: dataDir, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    let peak = 0;
    const sampler = setInterval(() => void rssMb(child.pid!).then((rss) => (peak = Math.max(peak, rss))), 100);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearInterval(sampler);
    const importMs = Date.now() - started;
    process.stdout.write(stdout);
    // Exit 1: the malformed records were rejected, as they must be.
    if (code !== 1) throw new Error(`import:legacy exited ${code}`);

    const source = client.db(dbName).collection('chat_messages');
    const imported = await source.countDocuments({ legacyKey: { $exists: true } });
    if (imported !== stats.messages) throw new Error(`imported ${imported} messages, the dump holds ${stats.messages}`);

    // The same indexes as the import's collection, so both writes maintain the same structures.
    const target = client.db('bench_import_raw').collection('chat_messages');
    for (const { key, name, v: _version, ns: _namespace, ...options } of await source.listIndexes().toArray()) {
      if (name !== '_id_') await target.createIndex(key as mongoose.mongo.IndexSpecification, { name, ...options });
    }
    let rawMs = 0;
    let batch: mongoose.mongo.Document[] = [];
    const flush = async () => {
      const began = Date.now();
      await target.insertMany(batch, { ordered: false });
      rawMs += Date.now() - began;
      batch = [];
    };
    for await (const document of source.find({})) {
      batch.push(document);
      if (batch.length >= RAW_BATCH) await flush();
    }
    if (batch.length > 0) await flush();

    const rate = (ms: number) => Math.round(stats.messages / (ms / 1000)).toLocaleString('en-US');
    process.stdout.write(
      `\nimport:legacy     ${(importMs / 1000).toFixed(1)} s  ${rate(importMs)} messages/s  peak RSS ${peak.toFixed(0)} MB (whole command, app and parser)\n` +
        `raw insertMany    ${(rawMs / 1000).toFixed(1)} s  ${rate(rawMs)} messages/s  (the same documents, batches of ${RAW_BATCH})\n` +
        `ratio             ${(importMs / rawMs).toFixed(2)}x the raw insert's time\n`,
    );
  } finally {
    await client.close();
    await store.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
