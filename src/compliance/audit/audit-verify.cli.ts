import { loadAppConfig } from '../../common/config/app-config.js';
import { withStoreDatabase } from '../../database/store/store-database.js';
import { verifyAuditChain } from './audit-verify.js';

// `npm run audit:verify`: checks the whole audit chain (against MONGODB_URI or, without it, the
// embedded store `npm start` uses) with CHAT_AUDIT_HASH_KEY or the key kept in the database.
// Exit 0: intact. Exit 1: broken, naming the first broken link. Exit 2: could not check.
const EXIT_BROKEN = 1;
const EXIT_UNCHECKED = 2;

async function main(): Promise<number> {
  const config = loadAppConfig();
  return withStoreDatabase(config, async (db) => {
    const report = await verifyAuditChain(db, config.compliance.auditHashKey);
    if (report.entries === 0 && report.intact) {
      process.stdout.write('audit log: intact (no entries)\n');
      return 0;
    }
    const start = report.anchor
      ? `, starting after entries ${report.anchor.fromSeq}..${report.anchor.throughSeq} pruned as recorded by entry ${report.anchor.seq}`
      : '';
    if (report.intact) {
      process.stdout.write(`audit log: intact: ${report.entries} entries, seq ${report.firstSeq}..${report.lastSeq}${start}\n`);
      process.stdout.write(`last entry: seq ${report.lastSeq}, hash ${report.lastHash}\n`);
      return 0;
    }
    const broken = report.broken!;
    process.stdout.write(
      `audit log: BROKEN at seq ${broken.seq} (${broken.problem}): ${broken.message}\n` +
        `${report.entries} entries before it verified${report.entries > 0 ? ` (seq ${report.firstSeq}..${report.lastSeq})` : ''}${start}\n`,
    );
    return EXIT_BROKEN;
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`audit log could not be verified: ${(error as Error).message}\n`);
    process.exit(EXIT_UNCHECKED);
  },
);
