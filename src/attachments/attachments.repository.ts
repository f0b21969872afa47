import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import { TermCriteria, TimeKeyset, beforeKeyset, conversationScope, termFilter, timeRange } from '../common/search/search-criteria.js';
import { MAX_ATTACHMENT_TERMS, attachmentSearchText, searchFields } from '../common/text/search-terms.js';
import { Attachment, FileType, ProcessingError, REMOVED_STORAGE_DRIVER, StoredObject, Thumbnail } from './schemas/attachment.schema.js';

export type AttachmentRecord = Attachment;

export interface NewAttachment {
  _id: Types.ObjectId;
  conversationId: Types.ObjectId;
  messageId: Types.ObjectId;
  fileType: FileType;
  mimeType: string;
  extension: string;
  originalName: string;
  fileSize: number;
  sha256: string;
  storage: StoredObject;
}

export interface ProcessingOutcome {
  extractedText: string | null;
  metadata: Record<string, unknown>;
  thumbnail: Thumbnail | null;
  /** Set when processing replaced the stored bytes (image metadata stripped). */
  content?: { fileSize: number; sha256: string; storage: StoredObject };
}

const { trusted } = mongoose;

/** Where an attachment's files are, as erasure, purge and pseudonymisation read it. */
export type StoredFiles = Pick<AttachmentRecord, '_id' | 'userId' | 'storage' | 'thumbnail' | 'extension' | 'processingStatus'>;

const STORED_FILES_PROJECTION = { userId: 1, storage: 1, thumbnail: 1, extension: 1, processingStatus: 1 } as const;

/** Why a file that was never processed will not be: it was removed first. */
const FILE_REMOVED: ProcessingError = { code: 'FILE_REMOVED', message: 'The file was removed before it could be processed' };

export interface AttachmentSearchFilter {
  terms: TermCriteria;
  onlyConversations?: Types.ObjectId[];
  excludeConversations: Types.ObjectId[];
  from?: Date;
  to?: Date;
  before?: TimeKeyset;
  limit?: number;
}

function attachmentTerms(name: string, text: string | null): Record<string, unknown> {
  return searchFields('searchTerms', attachmentSearchText(name, text), MAX_ATTACHMENT_TERMS);
}

/** The only owner of the chat_attachments Model; user-facing methods take the owner id first. */
@Injectable()
export class AttachmentsRepository {
  constructor(@InjectModel(Attachment.name) private readonly model: Model<Attachment>) {}

  async insert(ownerId: string, attachment: NewAttachment): Promise<AttachmentRecord> {
    const doc = await this.model.create({
      ...attachment,
      userId: ownerId,
      processingStatus: 'pending',
      ...attachmentTerms(attachment.originalName, null),
    });
    return doc.toObject<AttachmentRecord>();
  }

  findOne(ownerId: string, id: Types.ObjectId): Promise<AttachmentRecord | null> {
    return this.model.findOne({ _id: id, userId: ownerId }).lean<AttachmentRecord>().exec();
  }

  findById(id: Types.ObjectId): Promise<AttachmentRecord | null> {
    return this.model.findById(id).lean<AttachmentRecord>().exec();
  }

  forMessage(ownerId: string, messageId: Types.ObjectId): Promise<AttachmentRecord[]> {
    return this.model.find({ userId: ownerId, messageId }).sort({ _id: 1 }).lean<AttachmentRecord[]>().exec();
  }

  /** Processed attachments of a conversation that have text, newest first. */
  async withTextInConversation(ownerId: string, conversationId: Types.ObjectId, limit: number): Promise<AttachmentRecord[]> {
    return this.model
      .find({ conversationId, userId: ownerId, processingStatus: 'processed', extractedText: trusted({ $ne: null }) })
      .sort({ createdAt: -1 })
      .limit(limit)
      .lean<AttachmentRecord[]>()
      .exec();
  }

  /** Storage of every attachment of a conversation (to remove the files), streamed. */
  storageInConversation(
    ownerId: string,
    conversationId: Types.ObjectId,
  ): AsyncIterable<Pick<AttachmentRecord, '_id' | 'storage' | 'thumbnail'>> {
    return this.model.find({ conversationId, userId: ownerId }, { storage: 1, thumbnail: 1 }).lean<AttachmentRecord>().cursor();
  }

  /** The owner's attachments matching a term search, newest first, with their text, streamed in small batches. */
  search(ownerId: string, filter: AttachmentSearchFilter): AsyncIterable<AttachmentRecord> {
    const terms = termFilter('searchTerms', filter.terms);
    const query: Record<string, unknown> = {
      userId: ownerId,
      ...terms.query,
      ...conversationScope(filter),
      ...timeRange('createdAt', filter.from, filter.to),
    };
    const and = [...terms.and, ...(filter.before ? [beforeKeyset('createdAt', filter.before)] : [])];
    if (and.length > 0) query.$and = and;
    const found = this.model.find(query).sort({ createdAt: -1, _id: -1 });
    if (filter.limit !== undefined) found.limit(filter.limit);
    return found.batchSize(10).lean<AttachmentRecord>().cursor();
  }

  /** The attachments of some of the owner's messages (export), without their text. */
  forMessages(ownerId: string, messageIds: Types.ObjectId[]): Promise<AttachmentRecord[]> {
    return this.model
      .find({ userId: ownerId, messageId: trusted({ $in: messageIds }) }, { extractedText: 0 })
      .sort({ _id: 1 })
      .lean<AttachmentRecord[]>()
      .exec();
  }

  async usedBytes(ownerId: string): Promise<number> {
    const [row] = await this.model
      .aggregate<{ total: number }>([{ $match: { userId: ownerId } }, { $group: { _id: null, total: { $sum: '$fileSize' } } }])
      .exec();
    return row?.total ?? 0;
  }

  async deleteOne(ownerId: string, id: Types.ObjectId): Promise<AttachmentRecord | null> {
    return this.model.findOneAndDelete({ _id: id, userId: ownerId }).lean<AttachmentRecord>().exec();
  }

  async deleteMany(ownerId: string, ids: Types.ObjectId[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await this.model.deleteMany({ userId: ownerId, _id: trusted({ $in: ids }) }).exec();
    return result.deletedCount;
  }

  /**
   * Claims a pending attachment for processing until `until`; null when it is not pending or
   * another worker holds an unexpired claim.
   */
  claim(id: Types.ObjectId, now: Date, until: Date): Promise<AttachmentRecord | null> {
    return this.model
      .findOneAndUpdate(
        { _id: id, processingStatus: 'pending', $or: [{ claimedUntil: null }, { claimedUntil: trusted({ $lte: now }) }] },
        { $set: { claimedUntil: until }, $inc: { processingAttempts: 1 } },
        { returnDocument: 'after', timestamps: false },
      )
      .lean<AttachmentRecord>()
      .exec();
  }

  /** Pending attachments nobody holds (new, or left by a crashed instance), oldest first. */
  async unclaimedPending(now: Date, limit: number): Promise<Types.ObjectId[]> {
    const rows = await this.model
      .find({ processingStatus: 'pending', $or: [{ claimedUntil: null }, { claimedUntil: trusted({ $lte: now }) }] }, { _id: 1 })
      .sort({ _id: 1 })
      .limit(limit)
      .lean<{ _id: Types.ObjectId }[]>()
      .exec();
    return rows.map((row) => row._id);
  }

  async markProcessed(id: Types.ObjectId, outcome: ProcessingOutcome, now: Date): Promise<AttachmentRecord | null> {
    const current = await this.model.findById(id, { originalName: 1 }).lean<Pick<AttachmentRecord, 'originalName'>>().exec();
    if (!current) return null;
    return this.model
      .findOneAndUpdate(
        { _id: id, processingStatus: 'pending' },
        {
          $set: {
            processingStatus: 'processed',
            processingError: null,
            claimedUntil: null,
            processedAt: now,
            extractedText: outcome.extractedText,
            ...attachmentTerms(current.originalName, outcome.extractedText),
            metadata: outcome.metadata,
            thumbnail: outcome.thumbnail,
            ...(outcome.content ?? {}),
          },
        },
        { returnDocument: 'after' },
      )
      .lean<AttachmentRecord>()
      .exec();
  }

  /** Fails a pending attachment for good; `quarantined` marks one whose parser kept crashing (it is never parsed again). */
  markFailed(
    id: Types.ObjectId,
    error: ProcessingError,
    metadata: Record<string, unknown>,
    now: Date,
    options: { quarantined?: boolean } = {},
  ): Promise<AttachmentRecord | null> {
    const quarantine = options.quarantined ? { quarantined: true } : {};
    return this.model
      .findOneAndUpdate(
        { _id: id, processingStatus: 'pending' },
        { $set: { processingStatus: 'failed', processingError: error, claimedUntil: null, processedAt: now, metadata, ...quarantine } },
        { returnDocument: 'after' },
      )
      .lean<AttachmentRecord>()
      .exec();
  }

  /**
   * Counts a parser run before it starts (acknowledged by the store first): if the run is killed,
   * or this process dies during it, the count stays and the next claim sees it.
   */
  async beginParse(id: Types.ObjectId): Promise<void> {
    await this.model.updateOne({ _id: id, processingStatus: 'pending' }, { $inc: { parserCrashes: 1 } }, { timestamps: false }).exec();
  }

  /** Uncounts a parser run that answered (with a result or a reason): it did not crash. */
  async endParse(id: Types.ObjectId): Promise<void> {
    await this.model
      .updateOne({ _id: id, parserCrashes: trusted({ $gt: 0 }) }, { $inc: { parserCrashes: -1 } }, { timestamps: false })
      .exec();
  }

  /** Gives a claimed attachment back (a transient failure), to be tried again after `retryAt`. */
  async release(id: Types.ObjectId, retryAt: Date): Promise<void> {
    await this.model.updateOne({ _id: id, processingStatus: 'pending' }, { $set: { claimedUntil: retryAt } }, { timestamps: false }).exec();
  }

  /** Analytics: every attachment uploaded within [from, to), oldest first, streamed (no text). */
  createdBetween(
    from: Date,
    to: Date,
  ): AsyncIterable<Pick<AttachmentRecord, 'userId' | 'conversationId' | 'fileType' | 'fileSize' | 'createdAt'>> {
    return this.model
      .find({ createdAt: trusted({ $gte: from, $lt: to }) }, { userId: 1, conversationId: 1, fileType: 1, fileSize: 1, createdAt: 1 })
      .sort({ createdAt: 1, _id: 1 })
      .batchSize(1000)
      .lean<Pick<AttachmentRecord, 'userId' | 'conversationId' | 'fileType' | 'fileSize' | 'createdAt'>>()
      .cursor();
  }

  /** Every attachment of the owner with its extracted text, oldest first, in small batches (user data export). */
  streamOwned(ownerId: string): AsyncIterable<AttachmentRecord> {
    return this.model.find({ userId: ownerId }).sort({ createdAt: 1 }).batchSize(20).lean<AttachmentRecord>().cursor();
  }

  /** Where the files of the owner's attachments are (those still stored), oldest first, streamed (user data export). */
  streamFilesOwned(
    ownerId: string,
  ): AsyncIterable<Pick<AttachmentRecord, '_id' | 'messageId' | 'originalName' | 'extension' | 'mimeType' | 'fileSize' | 'storage'>> {
    return this.model
      .find(
        { userId: ownerId, 'storage.driver': trusted({ $ne: REMOVED_STORAGE_DRIVER }) },
        { messageId: 1, originalName: 1, extension: 1, mimeType: 1, fileSize: 1, storage: 1 },
      )
      .sort({ createdAt: 1 })
      .batchSize(200)
      .lean<AttachmentRecord>()
      .cursor();
  }

  /** The owner's attachments, and the stored files they point at (originals and thumbnails). */
  async countOwned(ownerId: string): Promise<{ records: number; files: number }> {
    return this.countFiles({ userId: ownerId });
  }

  /** Maintenance across all users (retention): attachments in these conversations and their stored files. */
  async countInConversations(conversationIds: readonly Types.ObjectId[]): Promise<{ records: number; files: number }> {
    if (conversationIds.length === 0) return { records: 0, files: 0 };
    return this.countFiles({ conversationId: trusted({ $in: conversationIds }) });
  }

  /** Up to `limit` of the owner's attachments (only in `conversationIds` when given), with where their files are. */
  storedFilesOwned(ownerId: string, conversationIds: readonly Types.ObjectId[] | undefined, limit: number): Promise<StoredFiles[]> {
    const query: Record<string, unknown> = { userId: ownerId };
    if (conversationIds) query.conversationId = trusted({ $in: conversationIds });
    return this.model.find(query, STORED_FILES_PROJECTION).limit(limit).lean<StoredFiles[]>().exec();
  }

  /** Maintenance across all users (retention): up to `limit` attachments in these conversations, with where their files are. */
  storedFilesInConversations(conversationIds: readonly Types.ObjectId[], limit: number): Promise<StoredFiles[]> {
    if (conversationIds.length === 0) return Promise.resolve([]);
    return this.model
      .find({ conversationId: trusted({ $in: conversationIds }) }, STORED_FILES_PROJECTION)
      .limit(limit)
      .lean<StoredFiles[]>()
      .exec();
  }

  /** Maintenance across all users (erasure, retention): removes these attachment records, whoever owns them; answers how many. */
  async deleteByIds(ids: readonly Types.ObjectId[]): Promise<number> {
    if (ids.length === 0) return 0;
    return (await this.model.deleteMany({ _id: trusted({ $in: ids }) }).exec()).deletedCount;
  }

  /**
   * Gives the owner's attachments to `pseudonym`, their files already removed: the record keeps
   * type, size and times (for counts and aggregates), loses the name (`removed.<ext>`), the text,
   * the thumbnail and the search terms, and is marked removed in storage. One still pending is
   * failed, so a processor working on it cannot write its results back. Answers how many changed.
   */
  async replaceOwner(ownerId: string, pseudonym: string, attachments: readonly StoredFiles[], now: Date): Promise<number> {
    if (attachments.length === 0) return 0;
    const result = await this.model.bulkWrite(
      attachments.map((attachment) => ({
        updateOne: {
          filter: { _id: attachment._id, userId: ownerId },
          update: {
            $set: {
              userId: pseudonym,
              originalName: `removed.${attachment.extension}`,
              extractedText: null,
              thumbnail: null,
              storage: { driver: REMOVED_STORAGE_DRIVER, key: attachment._id.toHexString() },
              updatedAt: now,
              ...(attachment.processingStatus === 'pending'
                ? { processingStatus: 'failed', processingError: FILE_REMOVED, claimedUntil: null, processedAt: now }
                : {}),
            },
            $unset: { searchTerms: 1, searchTermsVersion: 1 },
          },
        },
      })),
      { ordered: false, timestamps: false },
    );
    return result.modifiedCount;
  }

  private async countFiles(scope: Record<string, unknown>): Promise<{ records: number; files: number }> {
    const [records, originals, thumbnails] = await Promise.all([
      this.model.countDocuments(scope).exec(),
      this.model.countDocuments({ ...scope, 'storage.driver': trusted({ $ne: REMOVED_STORAGE_DRIVER }) }).exec(),
      this.model.countDocuments({ ...scope, thumbnail: trusted({ $ne: null }) }).exec(),
    ]);
    return { records, files: originals + thumbnails };
  }
}
