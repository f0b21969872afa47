import { Db, IndexSpec, Migration, createIndexes, dropIndexes, ensureCollection } from '../src/database/migrations/migration.js';

const INDEXES: IndexSpec[] = [
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
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
