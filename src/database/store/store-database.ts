import mongoose from 'mongoose';
import type { AppConfig } from '../../common/config/app-config.js';
import { resolveMongoStore } from './mongo-store.js';

/**
 * For the command-line tools: connects to the store `npm start` would use (MONGODB_URI, else
 * mongod on PATH, else the embedded store in DATA_DIR) and the configured database, says which on
 * standard output, runs `work`, then closes the connection and stops a store it started.
 */
export async function withStoreDatabase<T>(config: AppConfig, work: (db: mongoose.mongo.Db) => Promise<T>): Promise<T> {
  const store = await resolveMongoStore({ uri: config.mongo.uri, persistence: { dataDir: config.mongo.dataDir } });
  const client = new mongoose.mongo.MongoClient(store.uri);
  try {
    await client.connect();
    const db = client.db(config.mongo.dbName);
    process.stdout.write(`store: ${store.description}, database: ${db.databaseName}\n`);
    return await work(db);
  } finally {
    await client.close();
    await store.stop();
  }
}
