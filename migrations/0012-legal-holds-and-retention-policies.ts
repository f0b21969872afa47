import { Db, IndexSpec, Migration, createIndexes, dropIndexes, ensureCollection } from '../src/database/migrations/migration.js';

/** Each index names the query it serves; the schemas in src/compliance/{holds,retention} carry the same comments. */
const INDEXES: IndexSpec[] = [
  // the holds on one target (is this user / conversation held?), newest first; the admin listing by target
  { collection: 'chat_legal_holds', key: { target: 1, targetId: 1, placedAt: -1, _id: -1 }, name: 'target_targetId_placedAt' },
  // the admin listing, newest first
  { collection: 'chat_legal_holds', key: { placedAt: -1, _id: -1 }, name: 'placedAt' },
  // holds on a user's conversations (they block the user's erasure)
  { collection: 'chat_legal_holds', key: { conversationOwnerId: 1 }, name: 'conversationOwnerId' },
  // the user-data provider: holds an admin placed or released
  { collection: 'chat_legal_holds', key: { 'placedBy.userId': 1 }, name: 'placedBy_userId' },
  { collection: 'chat_legal_holds', key: { 'releasedBy.userId': 1 }, name: 'releasedBy_userId' },
  // one override per role or agent; concurrent PUTs rely on it
  { collection: 'chat_retention_policies', key: { scope: 1, key: 1 }, name: 'scope_key_unique', unique: true },
  // the user-data provider: policies an admin changed
  { collection: 'chat_retention_policies', key: { 'updatedBy.userId': 1 }, name: 'updatedBy_userId' },
];

export const legalHoldsAndRetentionPolicies: Migration = {
  id: '0012-legal-holds-and-retention-policies',
  description: 'Create chat_legal_holds and chat_retention_policies (one override per role or agent)',
  async up(db: Db) {
    await ensureCollection(db, 'chat_legal_holds');
    await ensureCollection(db, 'chat_retention_policies');
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
