import { Db, IndexSpec, Migration, createIndexes, dropIndexes, ensureCollection } from '../src/database/migrations/migration.js';

/** Each index names the query it serves; the schemas in src/ carry the same comments. */
const INDEXES: IndexSpec[] = [
  // a user's conversations by creation (exports, GDPR look-ups)
  { collection: 'chat_conversations', key: { userId: 1, createdAt: -1 }, name: 'userId_createdAt' },
  // GET /conversations: one status, newest activity first, keyset on (lastActivityAt, _id)
  { collection: 'chat_conversations', key: { userId: 1, status: 1, lastActivityAt: -1, _id: -1 }, name: 'userId_status_lastActivityAt' },
  // GET /conversations?role=
  {
    collection: 'chat_conversations',
    key: { userId: 1, status: 1, role: 1, lastActivityAt: -1, _id: -1 },
    name: 'userId_status_role_lastActivityAt',
  },
  // GET /conversations/:id/messages in either direction
  { collection: 'chat_messages', key: { conversationId: 1, timestamp: 1 }, name: 'conversationId_timestamp' },
  // a user's messages newest first (export, erasure, analytics)
  { collection: 'chat_messages', key: { userId: 1, timestamp: -1 }, name: 'userId_timestamp' },
  // seq is unique per conversation; replay after a given seq
  { collection: 'chat_messages', key: { conversationId: 1, seq: 1 }, name: 'conversationId_seq', unique: true },
];

export const createChatCollections: Migration = {
  id: '0001-create-chat-collections',
  description: 'Create chat_conversations and chat_messages with their indexes',
  async up(db: Db) {
    await ensureCollection(db, 'chat_conversations');
    await ensureCollection(db, 'chat_messages');
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
