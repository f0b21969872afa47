import { Db, IndexSpec, Migration, createIndexes, dropIndexes, ensureCollection } from '../src/database/migrations/migration.js';

/** The legacy import's ledger: which of our conversations each legacy conversation became (src/legacy-import). */
const LEGACY_CONVERSATIONS = 'chat_legacy_conversations';

/** Imports uploaded to the admin route. */
const LEGACY_IMPORT_RUNS = 'chat_legacy_import_runs';

const INDEXES: IndexSpec[] = [
  // the legacy-imports job: runs to start or resume (their claim expired)
  { collection: LEGACY_IMPORT_RUNS, key: { state: 1, claimedUntil: 1 }, name: 'state_claimedUntil' },
  // the legacy import: one message per legacy record, so importing a dump again adds only what is new
  // (sparse: messages written live have no legacy key)
  { collection: 'chat_messages', key: { legacyKey: 1 }, name: 'legacyKey_unique', unique: true, sparse: true },
];

export const legacyImport: Migration = {
  id: '0015-legacy-import',
  description: 'Create chat_legacy_conversations and chat_legacy_import_runs, and a unique legacy key on imported messages',
  async up(db: Db) {
    await ensureCollection(db, LEGACY_CONVERSATIONS);
    await ensureCollection(db, LEGACY_IMPORT_RUNS);
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
