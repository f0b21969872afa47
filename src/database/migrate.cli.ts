import mongoose from 'mongoose';
import { MIGRATIONS } from '../../migrations/index.js';
import { loadAppConfig } from '../common/config/app-config.js';
import { MigrationRunner } from './migrations/migration-runner.js';
import { resolveMongoStore } from './store/mongo-store.js';

// `npm run migrate [-- up|down|status]`: the deploy-time way to apply schema changes, against
// MONGODB_URI or, without it, the same embedded store `npm start` uses. Output is for a terminal.
const USAGE = 'usage: npm run migrate -- [up|down|status]';

async function main(): Promise<void> {
  const command = process.argv[2] ?? 'up';
  if (!['up', 'down', 'status'].includes(command)) {
    throw new Error(USAGE);
  }
  const config = loadAppConfig();
  const store = await resolveMongoStore({ uri: config.mongo.uri, persistence: { dataDir: config.mongo.dataDir } });
  const client = new mongoose.mongo.MongoClient(store.uri);
  try {
    await client.connect();
    const runner = new MigrationRunner(client.db(config.mongo.dbName), MIGRATIONS, {
      log: (message) => process.stdout.write(`${message}\n`),
    });
    process.stdout.write(`store: ${store.description}, database: ${client.db(config.mongo.dbName).databaseName}\n`);
    if (command === 'up') {
      const applied = await runner.up();
      process.stdout.write(applied.length > 0 ? `applied ${applied.length} migration(s)\n` : 'nothing to apply: schema is up to date\n');
    } else if (command === 'down') {
      const reverted = await runner.down();
      process.stdout.write(reverted ? `reverted ${reverted}\n` : 'nothing to revert\n');
    } else {
      for (const entry of await runner.status()) {
        process.stdout.write(
          `${entry.appliedAt ? entry.appliedAt.toISOString() : 'pending                 '}  ${entry.id}  ${entry.description}\n`,
        );
      }
    }
  } finally {
    await client.close();
    await store.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
});
