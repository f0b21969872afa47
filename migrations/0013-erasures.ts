import { Db, IndexSpec, Migration, createIndexes, dropIndexes, ensureCollection } from '../src/database/migrations/migration.js';

const ERASURES_COLLECTION = 'chat_erasures';

/** Each index names the query it serves; src/compliance/erasure/schemas/erasure.schema.ts carries the same comments. */
const INDEXES: IndexSpec[] = [
  // one erasure or anonymisation per subject in progress
  { collection: ERASURES_COLLECTION, key: { activeKey: 1 }, name: 'activeKey_unique', unique: true },
  // the erasures job: records in progress whose claim expired
  { collection: ERASURES_COLLECTION, key: { state: 1, claimedUntil: 1 }, name: 'state_claimedUntil' },
  // the user-data provider: records about a user, and records a user requested
  { collection: ERASURES_COLLECTION, key: { subjectUserId: 1 }, name: 'subjectUserId' },
  { collection: ERASURES_COLLECTION, key: { 'requestedBy.userId': 1 }, name: 'requestedBy_userId' },
];

/** The erasure and anonymisation records (chat_erasures). */
export const erasures: Migration = {
  id: '0013-erasures',
  description: 'Create chat_erasures (erasure and anonymisation receipts) with its one-in-progress-per-user index',
  async up(db: Db) {
    await ensureCollection(db, ERASURES_COLLECTION);
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
