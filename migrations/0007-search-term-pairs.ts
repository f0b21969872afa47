import type mongoose from 'mongoose';
import {
  MAX_ATTACHMENT_TERMS,
  MAX_TERMS,
  SEARCH_TERMS_VERSION,
  attachmentSearchText,
  searchFields,
} from '../src/common/text/search-terms.js';
import type { Db, Migration, MigrationContext } from '../src/database/migrations/migration.js';

const BATCH = 500;
const asText = (value: unknown): string => (typeof value === 'string' ? value : '');

/**
 * Re-indexes documents whose terms were made by an older term format (before word pairs). One
 * pass in `_id` order with a cursor (a filter on the version would scan the collection once per
 * batch); documents already current are skipped, so a re-run after an interruption only pays
 * the reading.
 */
async function reindex(
  db: Db,
  context: MigrationContext,
  collection: string,
  projection: Record<string, 1>,
  fields: (doc: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const documents = db.collection(collection);
  const cursor = documents
    .find({}, { projection: { ...projection, searchTermsVersion: 1 } })
    .sort({ _id: 1 })
    .batchSize(BATCH);
  let updates: mongoose.mongo.AnyBulkWriteOperation[] = [];
  let seen = 0;
  let changed = 0;
  const flush = async () => {
    if (updates.length > 0) await documents.bulkWrite(updates, { ordered: false });
    changed += updates.length;
    updates = [];
    await context.progress(`${collection}: ${seen} documents read, ${changed} re-indexed`);
  };
  for await (const doc of cursor) {
    seen += 1;
    if (doc.searchTermsVersion !== SEARCH_TERMS_VERSION) {
      updates.push({ updateOne: { filter: { _id: doc._id }, update: { $set: fields(doc) } } });
    }
    if (updates.length === BATCH) await flush();
  }
  await flush();
}

export const searchTermPairs: Migration = {
  id: '0007-search-term-pairs',
  description: 'Re-index search terms with word pairs (phrase queries through the index)',
  async up(db: Db, context: MigrationContext) {
    await reindex(db, context, 'chat_messages', { content: 1 }, (doc) => searchFields('searchTerms', asText(doc.content), MAX_TERMS));
    await reindex(db, context, 'chat_conversations', { title: 1 }, (doc) => searchFields('titleTerms', asText(doc.title), MAX_TERMS));
    await reindex(db, context, 'chat_attachments', { originalName: 1, extractedText: 1 }, (doc) =>
      searchFields('searchTerms', attachmentSearchText(asText(doc.originalName), asText(doc.extractedText)), MAX_ATTACHMENT_TERMS),
    );
  },
  // Version-1 terms are a subset of version-2 terms (words without pairs): search works on either, nothing to undo.
  async down() {},
};
