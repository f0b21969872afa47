import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAppConfig } from '../../common/config/app-config.js';
import { withStoreDatabase } from '../store/store-database.js';
import { writeBackup } from './backup.js';

// `npm run backup -- --out DIR`: every collection and the attachment files, with a manifest of
// counts and checksums, against MONGODB_URI or, without it, the embedded store in DATA_DIR (stop
// the app first: the store's data file is the app's while it runs). Output is for a terminal.
const USAGE = 'usage: npm run backup -- --out DIR';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });
  if (!values.out) throw new Error(USAGE);
  const out = resolve(values.out);
  const config = loadAppConfig();
  await withStoreDatabase(config, async (db) => {
    const attachmentsDir = config.attachments.storage === 'local' ? resolve(config.attachments.directory) : null;
    const manifest = await writeBackup(db, { out, attachmentsDir, log: (line) => process.stderr.write(`${line}\n`) });
    const documents = manifest.collections.reduce((sum, entry) => sum + entry.documents, 0);
    process.stdout.write(
      `backed up ${manifest.collections.length} collections (${documents.toLocaleString('en-US')} documents)` +
        `${manifest.files ? `, ${manifest.files.count.toLocaleString('en-US')} attachment files` : ''}` +
        `, schema ${manifest.schemaVersion ?? 'none'}, into ${out}\n`,
    );
    if (manifest.changedDuringBackup.length > 0) {
      process.stdout.write(
        `warning: ${manifest.changedDuringBackup.join(', ')} changed while the backup ran; for a backup of one moment, stop the app (or its writes) first\n`,
      );
    }
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
});
