import { MIGRATIONS } from '../../migrations/index.js';
import { loadAppConfig } from '../common/config/app-config.js';
import { MigrationRunner } from './migrations/migration-runner.js';
import { withStoreDatabase } from './store/store-database.js';

// `npm run migrate [-- up|down|status]`: the deploy-time way to apply schema changes, against
// MONGODB_URI or, without it, the same embedded store `npm start` uses. Output is for a terminal.
const USAGE = 'usage: npm run migrate -- [up|down|status]';

async function main(): Promise<void> {
  const command = process.argv[2] ?? 'up';
  if (!['up', 'down', 'status'].includes(command)) {
    throw new Error(USAGE);
  }
  await withStoreDatabase(loadAppConfig(), async (db) => {
    const runner = new MigrationRunner(db, MIGRATIONS, {
      log: (message) => process.stdout.write(`${message}\n`),
    });
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
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
});
