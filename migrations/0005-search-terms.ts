import { MAX_ATTACHMENT_TERMS, MAX_TERMS, attachmentSearchText, indexTermsOf } from '../src/common/text/search-terms.js';
import { Db, IndexSpec, Migration, MigrationContext, createIndexes, dropIndexes } from '../src/database/migrations/migration.js';

const INDEXES: IndexSpec[] = [
  // search: a user's messages containing a term, newest first
  { collection: 'chat_messages', key: { userId: 1, searchTerms: 1, timestamp: -1 }, name: 'userId_searchTerms_timestamp' },
  // search: a user's conversations whose title contains a term
  { collection: 'chat_conversations', key: { userId: 1, titleTerms: 1 }, name: 'userId_titleTerms' },
  // search: a user's attachments whose name or text contains a term, newest first
  { collection: 'chat_attachments', key: { userId: 1, searchTerms: 1, createdAt: -1 }, name: 'userId_searchTerms_createdAt' },
  // incremental export: messages changed since a point in time, in change order
  { collection: 'chat_messages', key: { updatedAt: 1, _id: 1 }, name: 'updatedAt_id' },
];

const BATCH = 500;

/**
 * Fills `field` with the terms of each document written before search existed. Resumable: each
 * batch only takes documents still without the field, so an interrupted run goes on where it
 * stopped.
 */
async function backfill(
  db: Db,
  context: MigrationContext,
  collection: string,
  field: string,
  text: (doc: Record<string, unknown>) => string,
  maxTerms: number,
): Promise<void> {
  const documents = db.collection(collection);
  let done = 0;
  for (;;) {
    const batch = await documents
      .find({ [field]: { $exists: false } })
      .limit(BATCH)
      .toArray();
    if (batch.length === 0) break;
    await documents.bulkWrite(
      batch.map((doc) => ({ updateOne: { filter: { _id: doc._id }, update: { $set: { [field]: indexTermsOf(text(doc), maxTerms) } } } })),
      { ordered: false },
    );
    done += batch.length;
    await context.progress(`${collection}.${field}: ${done} documents indexed`);
  }
}

const asText = (value: unknown): string => (typeof value === 'string' ? value : '');

export const searchTerms: Migration = {
  id: '0005-search-terms',
  description: 'Index search terms of messages, conversation titles and attachments; index messages by change time',
  async up(db: Db, context: MigrationContext) {
    await createIndexes(db, INDEXES);
    await backfill(db, context, 'chat_messages', 'searchTerms', (doc) => asText(doc.content), MAX_TERMS);
    await backfill(db, context, 'chat_conversations', 'titleTerms', (doc) => asText(doc.title), MAX_TERMS);
    await backfill(
      db,
      context,
      'chat_attachments',
      'searchTerms',
      (doc) => attachmentSearchText(asText(doc.originalName), asText(doc.extractedText)),
      MAX_ATTACHMENT_TERMS,
    );
  },
  async down(db: Db) {
    await dropIndexes(db, INDEXES);
    for (const [collection, field] of [
      ['chat_messages', 'searchTerms'],
      ['chat_conversations', 'titleTerms'],
      ['chat_attachments', 'searchTerms'],
    ] as const) {
      await db.collection(collection).updateMany({}, { $unset: { [field]: '' } });
    }
  },
};
