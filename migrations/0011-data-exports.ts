import { Db, IndexSpec, Migration, createIndexes, dropIndexes, ensureCollection } from '../src/database/migrations/migration.js';

const DATA_EXPORTS_COLLECTION = 'chat_data_exports';
const DATA_EXPORT_FILES_BUCKET = 'chat_data_export_files';

/** Each index names the query it serves; src/compliance/data-export/schemas/data-export.schema.ts carries the same comments. */
const INDEXES: IndexSpec[] = [
  // one active export per subject user (the race-free guard of DATA_EXPORT_IN_PROGRESS)
  { collection: DATA_EXPORTS_COLLECTION, key: { activeKey: 1 }, name: 'activeKey_unique', unique: true },
  // the worker: the next queued job
  { collection: DATA_EXPORTS_COLLECTION, key: { status: 1, runAfter: 1 }, name: 'status_runAfter' },
  // the scheduled job: running jobs whose claim expired
  { collection: DATA_EXPORTS_COLLECTION, key: { status: 1, claimedUntil: 1 }, name: 'status_claimedUntil' },
  // the scheduled job: ready archives past their expiry
  { collection: DATA_EXPORTS_COLLECTION, key: { status: 1, expiresAt: 1 }, name: 'status_expiresAt' },
  // the user-data provider: jobs about a user, and jobs a user requested
  { collection: DATA_EXPORTS_COLLECTION, key: { subjectUserId: 1 }, name: 'subjectUserId' },
  { collection: DATA_EXPORTS_COLLECTION, key: { 'requestedBy.userId': 1 }, name: 'requestedBy_userId' },
  // ATTACHMENT_STORAGE=gridfs: the GridFS indexes of the archives' bucket, and a user's archives (erasure)
  { collection: `${DATA_EXPORT_FILES_BUCKET}.files`, key: { filename: 1, uploadDate: 1 }, name: 'filename_1_uploadDate_1' },
  { collection: `${DATA_EXPORT_FILES_BUCKET}.files`, key: { 'metadata.owner': 1 }, name: 'metadata_owner' },
  { collection: `${DATA_EXPORT_FILES_BUCKET}.chunks`, key: { files_id: 1, n: 1 }, name: 'files_id_1_n_1', unique: true },
];

/** The GDPR export jobs (chat_data_exports) and the GridFS bucket of their archives. */
export const dataExports: Migration = {
  id: '0011-data-exports',
  description: 'Create chat_data_exports (GDPR export jobs) with its one-active-export-per-user index, and the archives bucket indexes',
  async up(db: Db) {
    await ensureCollection(db, DATA_EXPORTS_COLLECTION);
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
