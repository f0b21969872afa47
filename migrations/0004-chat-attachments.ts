import { Db, IndexSpec, Migration, createIndexes, dropIndexes, ensureCollection } from '../src/database/migrations/migration.js';

const INDEXES: IndexSpec[] = [
  // a message's attachments (listing, deletion with the message)
  { collection: 'chat_attachments', key: { userId: 1, messageId: 1 }, name: 'userId_messageId' },
  // a conversation's attachments (agent context, purge, export)
  { collection: 'chat_attachments', key: { conversationId: 1, createdAt: 1 }, name: 'conversationId_createdAt' },
  // a user's files newest first (quota, export, erasure)
  { collection: 'chat_attachments', key: { userId: 1, createdAt: -1 }, name: 'userId_createdAt' },
  // processing work left pending (boot and periodic sweep)
  { collection: 'chat_attachments', key: { processingStatus: 1, claimedUntil: 1 }, name: 'processingStatus_claimedUntil' },
];

export const chatAttachments: Migration = {
  id: '0004-chat-attachments',
  description: 'Create chat_attachments with its indexes',
  async up(db: Db) {
    await ensureCollection(db, 'chat_attachments');
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
