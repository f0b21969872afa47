import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import { CursorPosition } from '../common/pagination/cursor.js';
import { TermCriteria, termFilter } from '../common/search/search-criteria.js';
import { searchFields } from '../common/text/search-terms.js';
import type { PurgeGuard, RetentionQuery } from './retention-candidates.js';
import { Conversation, ConversationStatus, ConversationSummary } from './schemas/conversation.schema.js';

/** A conversation as stored, as a plain object (never a Mongoose document). */
export type ConversationRecord = Conversation;

export interface ListConversationsFilter {
  status: Exclude<ConversationStatus, 'deleted'>;
  role?: string;
  limit: number;
  after?: CursorPosition;
}

/** What the count repair reads of a conversation. */
export type ConversationCounts = Pick<ConversationRecord, '_id' | 'userId' | 'status' | 'messageCount' | 'lastSeq' | 'updatedAt'>;

export interface ConversationChanges {
  title?: string | null;
  metadata?: Record<string, unknown>;
  status?: Exclude<ConversationStatus, 'deleted'>;
}

/** What retention reads of a conversation. */
export type RetentionRow = Pick<ConversationRecord, '_id' | 'userId' | 'role' | 'agentKey' | 'status' | 'lastActivityAt' | 'deletedAt'>;

/** The fields of a conversation that carry personal data, as pseudonymisation reads and rewrites them. */
export type PersonalFields = Pick<ConversationRecord, '_id' | 'title' | 'summary' | 'metadata'>;

const { trusted } = mongoose;
const DELETED: ConversationStatus = 'deleted';
const NOT_DELETED = () => trusted({ $ne: DELETED });

/**
 * The only owner of the chat_conversations Model. Every method that reads or writes a user's
 * data takes the owner id first, so a query without it cannot be written.
 */
@Injectable()
export class ConversationsRepository {
  constructor(@InjectModel(Conversation.name) private readonly model: Model<Conversation>) {}

  async create(
    ownerId: string,
    data: { id?: Types.ObjectId; title: string | null; role: string; agentKey: string; metadata: Record<string, unknown>; now: Date },
  ): Promise<ConversationRecord> {
    const created = await new this.model({
      ...(data.id && { _id: data.id }),
      userId: ownerId,
      title: data.title,
      ...searchFields('titleTerms', data.title ?? ''),
      role: data.role,
      agentKey: data.agentKey,
      metadata: data.metadata,
      status: 'active',
      lastActivityAt: data.now,
      createdAt: data.now,
      updatedAt: data.now,
    }).save({ timestamps: false });
    return created.toObject<ConversationRecord>();
  }

  findVisible(ownerId: string, id: Types.ObjectId): Promise<ConversationRecord | null> {
    return this.model.findOne({ _id: id, userId: ownerId, status: NOT_DELETED() }).lean<ConversationRecord>().exec();
  }

  async existsVisible(ownerId: string, id: Types.ObjectId): Promise<boolean> {
    const found = await this.model
      .findOne({ _id: id, userId: ownerId, status: NOT_DELETED() }, { _id: 1 })
      .lean<Pick<ConversationRecord, '_id'>>()
      .exec();
    return found !== null;
  }

  /** What a cached history of a visible conversation is checked against; null when it is not the owner's or is deleted. */
  historyVersion(
    ownerId: string,
    id: Types.ObjectId,
  ): Promise<Pick<ConversationRecord, 'messageCount' | 'lastSeq' | 'messagesRev'> | null> {
    return this.model
      .findOne({ _id: id, userId: ownerId, status: NOT_DELETED() }, { _id: 0, messageCount: 1, lastSeq: 1, messagesRev: 1 })
      .lean<Pick<ConversationRecord, 'messageCount' | 'lastSeq' | 'messagesRev'>>()
      .exec();
  }

  async bumpMessagesRev(ids: readonly Types.ObjectId[]): Promise<void> {
    await this.model.updateMany({ _id: trusted({ $in: ids }) }, { $inc: { messagesRev: 1 } }, { timestamps: false }).exec();
  }

  /** Pages through one status, newest activity first, strictly after the cursor position. */
  list(ownerId: string, filter: ListConversationsFilter): Promise<ConversationRecord[]> {
    const query: Record<string, unknown> = { userId: ownerId, status: filter.status };
    if (filter.role !== undefined) query.role = filter.role;
    if (filter.after) {
      query.$or = [
        { lastActivityAt: trusted({ $lt: filter.after.key }) },
        { lastActivityAt: filter.after.key, _id: trusted({ $lt: filter.after.id }) },
      ];
    }
    return this.model
      .find(query)
      .sort({ lastActivityAt: -1, _id: -1 })
      .limit(filter.limit + 1)
      .lean<ConversationRecord[]>()
      .exec();
  }

  updateVisible(ownerId: string, id: Types.ObjectId, changes: ConversationChanges, now: Date): Promise<ConversationRecord | null> {
    const set: Record<string, unknown> = { ...changes, updatedAt: now };
    if (changes.title !== undefined) Object.assign(set, searchFields('titleTerms', changes.title ?? ''));
    if (changes.status === 'archived') set.archivedAt = now;
    if (changes.status === 'active') set.archivedAt = null;
    return this.model
      .findOneAndUpdate({ _id: id, userId: ownerId, status: NOT_DELETED() }, { $set: set }, { returnDocument: 'after', timestamps: false })
      .lean<ConversationRecord>()
      .exec();
  }

  markDeleted(ownerId: string, id: Types.ObjectId, now: Date): Promise<ConversationRecord | null> {
    return this.model
      .findOneAndUpdate(
        { _id: id, userId: ownerId, status: NOT_DELETED() },
        { $set: { status: 'deleted', deletedAt: now, updatedAt: now } },
        { returnDocument: 'after', timestamps: false },
      )
      .lean<ConversationRecord>()
      .exec();
  }

  /**
   * Atomically takes `count` message slots in an active conversation that has room for them,
   * handing out the next sequence numbers. Null when the conversation is missing, not active or full.
   * `updatedAt` is the time of the write, never the (possibly back-dated) messages' time: the
   * count repair leaves conversations changed within its grace period alone.
   */
  reserveMessageSlots(
    ownerId: string,
    id: Types.ObjectId,
    count: number,
    maxMessages: number,
    messageTime: Date,
    now: Date,
  ): Promise<Pick<ConversationRecord, 'lastSeq'> | null> {
    return this.model
      .findOneAndUpdate(
        { _id: id, userId: ownerId, status: 'active', messageCount: trusted({ $lte: maxMessages - count }) },
        {
          $inc: { messageCount: count, lastSeq: count },
          $max: { lastMessageAt: messageTime, lastActivityAt: messageTime },
          $set: { updatedAt: now },
        },
        { returnDocument: 'after', timestamps: false, projection: { lastSeq: 1 } },
      )
      .lean<Pick<ConversationRecord, 'lastSeq'>>()
      .exec();
  }

  /** Sets a generated title unless the user has named the conversation meanwhile. */
  async setTitleIfUntitled(ownerId: string, id: Types.ObjectId, title: string): Promise<boolean> {
    const result = await this.model
      .updateOne(
        { _id: id, userId: ownerId, title: null },
        { $set: { title, ...searchFields('titleTerms', title) } },
        { timestamps: false },
      )
      .exec();
    return result.modifiedCount === 1;
  }

  /** The owner's visible conversations whose title matches, most recently active first (at most `limit`). */
  searchTitles(
    ownerId: string,
    terms: TermCriteria,
    filter: { status?: string; role?: string; from?: Date; to?: Date },
    limit: number,
  ): Promise<ConversationRecord[]> {
    const matching = termFilter('titleTerms', terms);
    const query: Record<string, unknown> = { userId: ownerId, status: filter.status ?? NOT_DELETED(), ...matching.query };
    if (matching.and.length > 0) query.$and = matching.and;
    if (filter.role !== undefined) query.role = filter.role;
    if (filter.from) query.lastActivityAt = trusted({ $gte: filter.from });
    if (filter.to) query.createdAt = trusted({ $lte: filter.to });
    return this.model.find(query).sort({ lastActivityAt: -1, _id: -1 }).limit(limit).lean<ConversationRecord[]>().exec();
  }

  /** Ids of the owner's conversations in a status (all not deleted when none is given), narrowed to a role. */
  async ids(ownerId: string, filter: { status?: ConversationStatus; role?: string }): Promise<Types.ObjectId[]> {
    const query: Record<string, unknown> = { userId: ownerId, status: filter.status ?? NOT_DELETED() };
    if (filter.role !== undefined) query.role = filter.role;
    const rows = await this.model.find(query, { _id: 1 }).lean<Pick<ConversationRecord, '_id'>[]>().exec();
    return rows.map((row) => row._id);
  }

  findManyVisible(ownerId: string, ids: Types.ObjectId[]): Promise<ConversationRecord[]> {
    return this.model
      .find({ _id: trusted({ $in: ids }), userId: ownerId, status: NOT_DELETED() })
      .lean<ConversationRecord[]>()
      .exec();
  }

  /** Analytics: every conversation created within [from, to), oldest first, streamed (deleted ones too: they were started). */
  createdBetween(from: Date, to: Date): AsyncIterable<Pick<ConversationRecord, '_id' | 'userId' | 'role' | 'agentKey' | 'createdAt'>> {
    return this.model
      .find({ createdAt: trusted({ $gte: from, $lt: to }) }, { userId: 1, role: 1, agentKey: 1, createdAt: 1 })
      .sort({ createdAt: 1, _id: 1 })
      .batchSize(1000)
      .lean<Pick<ConversationRecord, '_id' | 'userId' | 'role' | 'agentKey' | 'createdAt'>>()
      .cursor();
  }

  /** Analytics: the role and agent of these conversations, whoever owns them. */
  labels(ids: readonly Types.ObjectId[]): Promise<Pick<ConversationRecord, '_id' | 'role' | 'agentKey'>[]> {
    return this.model
      .find({ _id: trusted({ $in: ids }) }, { role: 1, agentKey: 1 })
      .lean<Pick<ConversationRecord, '_id' | 'role' | 'agentKey'>[]>()
      .exec();
  }

  /** The owner's visible conversations active within the range, oldest first, streamed (export). */
  streamVisible(ownerId: string, range: { from?: Date; to?: Date }): AsyncIterable<ConversationRecord> {
    const query: Record<string, unknown> = { userId: ownerId, status: NOT_DELETED() };
    if (range.from) query.lastActivityAt = trusted({ $gte: range.from });
    if (range.to) query.createdAt = trusted({ $lte: range.to });
    return this.model.find(query).sort({ createdAt: 1, _id: 1 }).batchSize(200).lean<ConversationRecord>().cursor();
  }

  /** Stores a summary unless a newer one (covering more messages) is already there. */
  async saveSummary(ownerId: string, id: Types.ObjectId, summary: ConversationSummary): Promise<void> {
    await this.model
      .updateOne(
        { _id: id, userId: ownerId, $or: [{ summary: null }, { 'summary.throughSeq': trusted({ $lt: summary.throughSeq }) }] },
        { $set: { summary } },
        { timestamps: false },
      )
      .exec();
  }

  /** Gives back slots taken for messages that could not be written, or that were deleted. */
  async releaseMessageSlots(ownerId: string, id: Types.ObjectId, count: number, lastMessageAt: Date | null, now: Date): Promise<void> {
    await this.model
      .updateOne(
        { _id: id, userId: ownerId },
        { $inc: { messageCount: -count }, $set: { lastMessageAt, updatedAt: now } },
        { timestamps: false },
      )
      .exec();
  }

  /** Stamps `updatedAt` before messages are removed, so a count repair that read the conversation earlier misses it. */
  async touch(ownerId: string, id: Types.ObjectId, now: Date): Promise<void> {
    await this.model.updateOne({ _id: id, userId: ownerId }, { $set: { updatedAt: now } }, { timestamps: false }).exec();
  }

  /**
   * Maintenance across all users (the count repair): conversations whose `updatedAt` is within
   * the range (no lower bound when `from` is null), in (updatedAt, _id) order after a position.
   */
  countsChangedBetween(
    range: { from: Date | null; to: Date },
    after: { updatedAt: Date; id: Types.ObjectId } | null,
    limit: number,
  ): Promise<ConversationCounts[]> {
    const and: Record<string, unknown>[] = [{ updatedAt: trusted({ ...(range.from ? { $gte: range.from } : {}), $lte: range.to }) }];
    if (after) {
      and.push({
        $or: [{ updatedAt: trusted({ $gt: after.updatedAt }) }, { updatedAt: after.updatedAt, _id: trusted({ $gt: after.id }) }],
      });
    }
    return this.model
      .find({ $and: and }, { userId: 1, status: 1, messageCount: 1, lastSeq: 1, updatedAt: 1 })
      .sort({ updatedAt: 1, _id: 1 })
      .limit(limit)
      .lean<ConversationCounts[]>()
      .exec();
  }

  /**
   * Sets the counts found by the count repair, only if the conversation is still exactly as the
   * repair read it (same messageCount, lastSeq and updatedAt): a message write or delete since
   * then changes one of them, so the update misses instead of writing a count that is no longer true.
   */
  repairCounts(
    observed: ConversationCounts,
    actual: { messageCount: number; lastSeq: number; lastMessageAt: Date | null },
    now: Date,
  ): Promise<ConversationRecord | null> {
    return this.model
      .findOneAndUpdate(
        {
          _id: observed._id,
          userId: observed.userId,
          messageCount: observed.messageCount,
          lastSeq: observed.lastSeq,
          updatedAt: observed.updatedAt,
        },
        { $set: { ...actual, updatedAt: now } },
        { returnDocument: 'after', timestamps: false },
      )
      .lean<ConversationRecord>()
      .exec();
  }

  /** The counts of one conversation as stored now (the count repair's re-check after a missed update). */
  counts(ownerId: string, id: Types.ObjectId): Promise<ConversationCounts | null> {
    return this.model
      .findOne({ _id: id, userId: ownerId }, { userId: 1, status: 1, messageCount: 1, lastSeq: 1, updatedAt: 1 })
      .lean<ConversationCounts>()
      .exec();
  }

  /** Same status for many of one owner's conversations in one round trip; returns how many changed. */
  async setStatusMany(ownerId: string, ids: Types.ObjectId[], status: ConversationStatus, now: Date): Promise<number> {
    if (ids.length === 0) return 0;
    const stamp = status === 'deleted' ? { deletedAt: now } : status === 'archived' ? { archivedAt: now } : { archivedAt: null };
    const result = await this.model.bulkWrite(
      ids.map((id) => ({
        updateOne: {
          filter: { _id: id, userId: ownerId, status: trusted({ $nin: ['deleted', status] }) },
          update: { $set: { status, updatedAt: now, ...stamp } },
        },
      })),
      { ordered: false, timestamps: false },
    );
    return result.modifiedCount;
  }

  /** Every conversation of the owner, deleted ones included, oldest first, streamed (user data export). */
  streamOwned(ownerId: string): AsyncIterable<ConversationRecord> {
    return this.model.find({ userId: ownerId }).sort({ createdAt: 1 }).batchSize(200).lean<ConversationRecord>().cursor();
  }

  countOwned(ownerId: string): Promise<number> {
    return this.model.countDocuments({ userId: ownerId }).exec();
  }

  /** Removes every conversation of the owner, deleted ones included; answers how many. */
  async deleteOwned(ownerId: string): Promise<number> {
    return (await this.model.deleteMany({ userId: ownerId }).exec()).deletedCount;
  }

  /** Up to `limit` of the owner's conversations (only those among `ids` when given), with their personal fields. */
  personalFields(ownerId: string, ids: readonly Types.ObjectId[] | undefined, limit: number): Promise<PersonalFields[]> {
    const query: Record<string, unknown> = { userId: ownerId };
    if (ids) query._id = trusted({ $in: ids });
    return this.model.find(query, { title: 1, summary: 1, metadata: 1 }).limit(limit).lean<PersonalFields[]>().exec();
  }

  /**
   * Gives the owner's conversations to `pseudonym` with their personal fields rewritten, and drops
   * their title terms (search must not find them by the original words). Answers how many changed.
   */
  async replaceOwner(ownerId: string, pseudonym: string, rewritten: readonly PersonalFields[], now: Date): Promise<number> {
    if (rewritten.length === 0) return 0;
    const result = await this.model.bulkWrite(
      rewritten.map((conversation) => ({
        updateOne: {
          filter: { _id: conversation._id, userId: ownerId },
          update: {
            $set: {
              userId: pseudonym,
              title: conversation.title,
              summary: conversation.summary,
              metadata: conversation.metadata,
              updatedAt: now,
            },
            $unset: { titleTerms: 1, searchTermsVersion: 1 },
          },
        },
      })),
      { ordered: false, timestamps: false },
    );
    return result.modifiedCount;
  }

  /**
   * Maintenance across all users (retention): conversations matching the query, in _id order
   * after `afterId`. See RetentionQuery for how the time conditions combine.
   */
  findForRetention(query: RetentionQuery): Promise<RetentionRow[]> {
    const time: Record<string, unknown>[] = [];
    if (query.lastActivityBefore) time.push({ lastActivityAt: trusted({ $lt: query.lastActivityBefore }) });
    if (query.deletedBefore) time.push({ status: DELETED, deletedAt: trusted({ $lt: query.deletedBefore }) });
    if (time.length === 0) throw new Error('A retention query needs lastActivityBefore or deletedBefore');
    const and: Record<string, unknown>[] = [time.length === 1 ? time[0]! : { $or: time }];
    const role = inclusion(query.roles);
    if (role) and.push({ role });
    const agentKey = inclusion(query.agentKeys);
    if (agentKey) and.push({ agentKey });
    if (query.excludeUserIds?.length) and.push({ userId: trusted({ $nin: query.excludeUserIds }) });
    if (query.excludeOwnersMatching) and.push({ userId: trusted({ $not: query.excludeOwnersMatching }) });
    const id: Record<string, unknown> = {};
    if (query.afterId) id.$gt = query.afterId;
    if (query.excludeConversationIds?.length) id.$nin = query.excludeConversationIds;
    if (Object.keys(id).length > 0) and.push({ _id: trusted(id) });
    return this.model
      .find(and.length === 1 ? and[0]! : { $and: and }, { userId: 1, role: 1, agentKey: 1, status: 1, lastActivityAt: 1, deletedAt: 1 })
      .sort({ _id: 1 })
      .limit(query.limit)
      .lean<RetentionRow[]>()
      .exec();
  }

  /** Maintenance across all users: the owner of the conversation, whatever its status; null when there is none. */
  async ownerOf(id: Types.ObjectId): Promise<string | null> {
    const found = await this.model.findById(id, { userId: 1 }).lean<Pick<ConversationRecord, 'userId'>>().exec();
    return found?.userId ?? null;
  }

  /**
   * Maintenance across all users (retention): marks for purge those of `ids` that still meet the
   * guard, and answers their ids. One still inactive since before the cutoff is set `deleted`
   * (deletedAt and updatedAt `now`), so message slots are refused from then on; one deleted for
   * good already refuses them and is only re-checked. The marked ones are found by the mark's time:
   * one deleted by its owner between selection and mark carries the time of that delete instead
   * (and one stamped again right after its mark, by a count repair, is left deleted for the
   * `permanently-deleted` pass, like a purge interrupted after the mark).
   */
  async markForPurge(ids: readonly Types.ObjectId[], guard: PurgeGuard, now: Date): Promise<Types.ObjectId[]> {
    if (ids.length === 0) return [];
    const among = { _id: trusted({ $in: ids }) };
    let marked: Record<string, unknown>;
    if ('deletedBefore' in guard) {
      marked = { ...among, status: DELETED, deletedAt: trusted({ $lt: guard.deletedBefore }) };
    } else {
      await this.model
        .updateMany(
          { ...among, status: NOT_DELETED(), lastActivityAt: trusted({ $lt: guard.lastActivityBefore }) },
          { $set: { status: DELETED, deletedAt: now, updatedAt: now } },
          { timestamps: false },
        )
        .exec();
      marked = { ...among, status: DELETED, deletedAt: now, updatedAt: now };
    }
    const rows = await this.model.find(marked, { _id: 1 }).sort({ _id: 1 }).lean<Pick<ConversationRecord, '_id'>[]>().exec();
    return rows.map((row) => row._id);
  }

  /** Maintenance across all users (retention): removes these conversations once marked for purge, whoever owns them; answers how many. */
  async deleteMarked(ids: readonly Types.ObjectId[]): Promise<number> {
    if (ids.length === 0) return 0;
    return (await this.model.deleteMany({ _id: trusted({ $in: ids }), status: DELETED }).exec()).deletedCount;
  }
}

/** `{ $in, $nin }` of an inclusion filter, or undefined when it restricts nothing. */
function inclusion<T>(filter: { in?: T[]; nin?: T[] } | undefined): unknown {
  if (!filter || (filter.in === undefined && !filter.nin?.length)) return undefined;
  return trusted({ ...(filter.in !== undefined ? { $in: filter.in } : {}), ...(filter.nin?.length ? { $nin: filter.nin } : {}) });
}
