import { Db, Migration, dropIndexIfExists, ensureCollection } from '../src/database/migrations/migration.js';

const INDEXES: { collection: string; key: Record<string, 1 | -1>; name: string; unique?: boolean }[] = [
  // one preferences document per user
  { collection: 'chat_user_preferences', key: { userId: 1 }, name: 'userId', unique: true },
  // one rating per user per message
  { collection: 'chat_message_feedback', key: { messageId: 1, userId: 1 }, name: 'messageId_userId', unique: true },
  // a user's feedback (export, erasure)
  { collection: 'chat_message_feedback', key: { userId: 1, createdAt: -1 }, name: 'userId_createdAt' },
  // the sweep that fails replies left in flight by a crashed instance
  { collection: 'chat_messages', key: { status: 1, updatedAt: 1 }, name: 'status_updatedAt' },
];

export const preferencesFeedbackReplyStatus: Migration = {
  id: '0003-preferences-feedback-reply-status',
  description: 'Create chat_user_preferences and chat_message_feedback; index reply status',
  async up(db: Db) {
    await ensureCollection(db, 'chat_user_preferences');
    await ensureCollection(db, 'chat_message_feedback');
    for (const index of INDEXES) {
      await db.collection(index.collection).createIndex(index.key, { name: index.name, unique: index.unique ?? false });
    }
  },
  async down(db: Db) {
    for (const index of INDEXES) {
      await dropIndexIfExists(db, index.collection, index.name);
    }
  },
};
