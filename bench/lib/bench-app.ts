import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import { createApp } from '../../src/bootstrap.js';
import { loadAppConfig } from '../../src/common/config/app-config.js';
import { resolveMongoStore } from '../../src/database/store/mongo-store.js';

export const BENCH_SECRET = 'bench-secret-bench-secret-bench-secret';

export interface BenchAppOptions {
  /**
   * `memory` (default): the store's memory backend, as the tests run it. `persistent`: what
   * `npm start` runs, the store's data files in a temporary directory removed by close().
   * Ignored with `MONGODB_URI`, which always wins.
   */
  persistence?: 'memory' | 'persistent';
}

export interface BenchApp {
  port: number;
  /** The benchmark's own driver connection to the app's database (seeding, baselines). */
  db: mongoose.mongo.Db;
  /** One line: which store, where its data is. */
  storeDescription: string;
  /** Drops the database and stops app, driver and store (and removes a persistent store's files). */
  close: () => Promise<void>;
}

/**
 * The real app on a local port in this process, on the store the app's resolver picks
 * (`MONGODB_URI`, else `mongod`, else the embedded store, in memory or on disk), with an empty
 * database.
 */
export async function startBenchApp(dbName: string, env: Record<string, string> = {}, options: BenchAppOptions = {}): Promise<BenchApp> {
  const dataDir = options.persistence === 'persistent' && !process.env.MONGODB_URI ? mkdtempSync(join(tmpdir(), 'wms-chat-bench-')) : null;
  const store = await resolveMongoStore({ uri: process.env.MONGODB_URI, persistence: dataDir ? { dataDir } : 'memory' });
  process.stdout.write(`store: ${store.description}\n`);
  const config = loadAppConfig({
    NODE_ENV: 'production',
    JWT_SECRET: BENCH_SECRET,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
    ...(dataDir ? { DATA_DIR: dataDir } : {}),
    ...env,
  });
  const app = await createApp({ config, database: { uri: store.uri, dbName, store } });
  await app.listen(0, '127.0.0.1');
  const client = await new mongoose.mongo.MongoClient(store.uri).connect();
  const db = client.db(dbName);
  await db.collection('chat_messages').deleteMany({});
  await db.collection('chat_conversations').deleteMany({});
  return {
    port: (app.getHttpServer().address() as AddressInfo).port,
    db,
    storeDescription: store.description,
    close: async () => {
      await db.dropDatabase();
      await client.close();
      await app.close();
      await store.stop();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
