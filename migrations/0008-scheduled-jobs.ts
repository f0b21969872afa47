import {
  Db,
  IndexSpec,
  Migration,
  createIndexes,
  dropCollectionIfExists,
  dropIndexes,
  ensureCollection,
} from '../src/database/migrations/migration.js';

/** Each index names the query it serves; the schemas in src/ carry the same comments. */
const INDEXES: IndexSpec[] = [
  // a job's last successful run (its checkpoint), and its runs left `running` by a crashed instance
  { collection: 'chat_job_runs', key: { job: 1, status: 1, startedAt: -1 }, name: 'job_status_startedAt' },
  // a job's runs, newest first (looking at runs; pruning old ones)
  { collection: 'chat_job_runs', key: { job: 1, startedAt: -1 }, name: 'job_startedAt' },
  // the count repair: conversations changed within a time window, in (updatedAt, _id) batches
  { collection: 'chat_conversations', key: { updatedAt: 1, _id: 1 }, name: 'updatedAt_id' },
];

export const scheduledJobs: Migration = {
  id: '0008-scheduled-jobs',
  description: 'Create chat_job_leases and chat_job_runs for the job scheduler, and the conversations index of the count repair',
  async up(db: Db) {
    // Leases need no index but their unique _id; the migration runner's own lease lives there too.
    await ensureCollection(db, 'chat_job_leases');
    await ensureCollection(db, 'chat_job_runs');
    await createIndexes(db, INDEXES);
    // Where the runner kept its lease before it moved to chat_job_leases.
    await dropCollectionIfExists(db, 'migrations_lock');
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
