import { resolveMongoStore } from '../../src/database/store/mongo-store.js';

/**
 * One store for the whole run, resolved as the app resolves it: MONGODB_URI if set, else a real
 * mongod on PATH, else the embedded store in memory. Each test file then uses a database of its own.
 */
export default async function globalSetup() {
  const store = await resolveMongoStore({ uri: process.env.MONGODB_URI, persistence: 'memory' });
  globalThis.__TEST_MONGO_STORE__ = store;
  process.env.TEST_MONGODB_URI = store.uri;
  process.env.TEST_MONGODB_KIND = store.kind;
  process.stdout.write(`\nTests run against: ${store.description}\n`);
}
