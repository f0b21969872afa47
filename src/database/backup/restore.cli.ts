import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MIGRATIONS } from '../../../migrations/index.js';
import { loadAppConfig } from '../../common/config/app-config.js';
import { withStoreDatabase } from '../store/store-database.js';
import { BackupInvalidError, restoreBackup, verifyBackup } from './restore.js';

// `npm run restore -- --from DIR [--force]`: checks the backup's checksums, then restores it into
// MONGODB_URI or, without it, the embedded store in DATA_DIR (with the app stopped). Refuses a
// target that holds data unless --force. Output is for a terminal.
const USAGE = 'usage: npm run restore -- --from DIR [--force]';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { from: { type: 'string' }, force: { type: 'boolean', default: false } }, strict: true });
  if (!values.from) throw new Error(USAGE);
  const from = resolve(values.from);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  // Before starting a store: a damaged backup or one from a newer version is refused at once.
  const manifest = await verifyBackup(from, log);
  const known = MIGRATIONS.map((migration) => migration.id);
  if (manifest.schemaVersion !== null && !known.includes(manifest.schemaVersion)) {
    throw new BackupInvalidError(
      `The backup's schema (${manifest.schemaVersion}) is newer than this version's (${known.at(-1)}): restore it with the version that took it, or a newer one`,
    );
  }
  const config = loadAppConfig();
  await withStoreDatabase(config, async (db) => {
    const attachmentsDir = config.attachments.storage === 'local' ? resolve(config.attachments.directory) : null;
    await restoreBackup(db, manifest, { from, attachmentsDir, force: values.force, log });
    const documents = manifest.collections.reduce((sum, entry) => sum + entry.documents, 0);
    const pending = known.length - (manifest.schemaVersion === null ? 0 : known.indexOf(manifest.schemaVersion) + 1);
    process.stdout.write(
      `restored ${manifest.collections.length} collections (${documents.toLocaleString('en-US')} documents, counts checked)` +
        `${manifest.files ? `, ${manifest.files.count.toLocaleString('en-US')} attachment files (checksums checked)` : ''}` +
        ` from ${from}\n${pending > 0 ? `${pending} migration(s) newer than the backup: the app applies them at start (or npm run migrate)\n` : ''}`,
    );
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
});
