import { Db, IndexSpec, Migration, createIndexes, dropIndexes, ensureCollection } from '../src/database/migrations/migration.js';

/** Each index names the query it serves; src/compliance/audit/schemas/audit-entry.schema.ts carries the same comments. */
const INDEXES: IndexSpec[] = [
  // the chain: its order, its last entry, exact lookups by seq; unique, so two instances cannot append the same seq
  { collection: 'chat_audit_log', key: { seq: 1 }, name: 'seq_unique', unique: true },
  // the admin listing filtered by action, newest first; verification's lookup of audit.pruned entries
  { collection: 'chat_audit_log', key: { action: 1, seq: -1 }, name: 'action_seq' },
  // the admin listing filtered by actor; a user's entries (their export, erasure)
  { collection: 'chat_audit_log', key: { 'actor.userIdHash': 1, seq: -1 }, name: 'actorHash_seq' },
  // the admin listing filtered by subject; a user's entries (their export, erasure)
  { collection: 'chat_audit_log', key: { 'subject.userIdHash': 1, seq: -1 }, name: 'subjectHash_seq' },
];

export const auditLog: Migration = {
  id: '0009-audit-log',
  description: 'Create chat_audit_log (the tamper-evident audit chain, unique seq) and chat_audit_settings (its hash key)',
  async up(db: Db) {
    await ensureCollection(db, 'chat_audit_log');
    await ensureCollection(db, 'chat_audit_settings');
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
