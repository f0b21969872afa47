import { Db, IndexSpec, Migration, createIndexes, dropIndexes } from '../src/database/migrations/migration.js';

/** Each index names the query it serves; the schemas in src/ carry the same comments. */
const INDEXES: IndexSpec[] = [
  // retention: conversations whose last activity is older than the period (any status)
  { collection: 'chat_conversations', key: { lastActivityAt: 1 }, name: 'lastActivityAt' },
  // retention: conversations deleted with permanent=true, by when (the purge's grace period)
  { collection: 'chat_conversations', key: { status: 1, deletedAt: 1 }, name: 'status_deletedAt' },
  // retention: the ratings in conversations being purged or pseudonymised
  { collection: 'chat_message_feedback', key: { conversationId: 1 }, name: 'conversationId' },
  // erasure and anonymisation: the GridFS files of a user, records or not (ATTACHMENT_STORAGE=gridfs)
  { collection: 'chat_attachment_files.files', key: { 'metadata.userId': 1 }, name: 'metadata_userId' },
];

export const userDataIndexes: Migration = {
  id: '0010-user-data-indexes',
  description:
    'Create the indexes of retention (conversations by last activity and by deletion, ratings by conversation) and of erasure (GridFS files by owner)',
  async up(db: Db) {
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
