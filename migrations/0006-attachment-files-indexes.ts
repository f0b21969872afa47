import { Db, IndexSpec, Migration, createIndexes, dropIndexes } from '../src/database/migrations/migration.js';

// The indexes every GridFS bucket has (the GridFS spec), for ATTACHMENT_STORAGE=gridfs.
const INDEXES: IndexSpec[] = [
  { collection: 'chat_attachment_files.files', key: { filename: 1, uploadDate: 1 }, name: 'filename_1_uploadDate_1' },
  { collection: 'chat_attachment_files.chunks', key: { files_id: 1, n: 1 }, name: 'files_id_1_n_1', unique: true },
];

export const attachmentFilesIndexes: Migration = {
  id: '0006-attachment-files-indexes',
  description: 'Create the GridFS indexes of the attachment files bucket',
  async up(db: Db) {
    await createIndexes(db, INDEXES);
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
  },
};
