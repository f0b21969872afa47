import { Db, IndexSpec, Migration, createIndexes, dropIndexes, ensureCollection } from '../src/database/migrations/migration.js';

const ANALYTICS = 'chat_analytics';
const FEATURE_USAGE = 'chat_feature_usage';

/** Each index names the query it serves; the schemas in src/ carry the same comments. */
const INDEXES: IndexSpec[] = [
  // the rollup job: every message written within a day, in time order
  { collection: 'chat_messages', key: { timestamp: 1 }, name: 'timestamp' },
  // the rollup job: conversations started within a day
  { collection: 'chat_conversations', key: { createdAt: 1 }, name: 'createdAt' },
  // the rollup job: attachments uploaded within a day
  { collection: 'chat_attachments', key: { createdAt: 1 }, name: 'createdAt' },
  // the rollup job: ratings given within a day; the dashboard: the newest comments
  { collection: 'chat_message_feedback', key: { createdAt: 1 }, name: 'createdAt' },
  // the dashboard: one scope's rollups of a period kind between two dates
  { collection: ANALYTICS, key: { scopeId: 1, scope: 1, period: 1, periodStart: 1 }, name: 'scopeId_scope_period_periodStart' },
  // the dashboard: which roles and agents have rollups in a range (scope picker, lowest-satisfaction agents);
  // before the next one, which the embedded store would otherwise use for these queries too
  { collection: ANALYTICS, key: { scope: 1, period: 1, periodStart: 1 }, name: 'scope_period_periodStart' },
  // the rollup job: one period's documents (digests, merges)
  { collection: ANALYTICS, key: { periodStart: 1, period: 1, scope: 1 }, name: 'periodStart_period_scope' },
  // the user-data seam: a user's own rollups
  { collection: ANALYTICS, key: { userId: 1 }, name: 'userId' },
  // one usage counter per user, day and feature
  { collection: FEATURE_USAGE, key: { userId: 1, day: 1, feature: 1 }, name: 'userId_day_feature_unique', unique: true },
  // the rollup job: one day's feature usage
  { collection: FEATURE_USAGE, key: { day: 1 }, name: 'day' },
];

/** The analytics rollups (chat_analytics), feature usage, and the time indexes the rollups read by. */
export const analytics: Migration = {
  id: '0014-analytics',
  description:
    'Create chat_analytics and chat_feature_usage, and index messages, conversations, attachments and ratings by time for the rollups',
  async up(db: Db) {
    await ensureCollection(db, ANALYTICS);
    await ensureCollection(db, FEATURE_USAGE);
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
