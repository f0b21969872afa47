import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import { CursorPosition } from '../common/pagination/cursor.js';
import { countTokens } from '../common/text/tokenizer.js';
import { searchFields } from '../common/text/search-terms.js';
import { MessageSearchFilter, beforeKeyset, conversationScope, termFilter, timeRange } from '../common/search/search-criteria.js';
import { GenerationInfo, Message, MessageError, MessageStatus, MessageType, TokenUsage } from './schemas/message.schema.js';

export type MessageRecord = Message;

export interface NewMessage {
  type: MessageType;
  content: string;
  metadata: Record<string, unknown>;
  timestamp: Date;
  seq: number;
  tokens: number;
  status?: MessageStatus;
  generation?: GenerationInfo;
  tokensUsed?: TokenUsage;
  processingTime?: number;
  legacyKey?: string;
}

export interface CompletedReply {
  content: string;
  tokens: number;
  tokensUsed: TokenUsage;
  processingTime: number;
  model: string | null;
  finishReason: string;
  timeToFirstToken: number | null;
}

const PENDING: MessageStatus = 'pending';
/** Stale replies failed per run of the stale-replies job (a minute apart): a crash leaves few. */
const STALE_REPLIES_BATCH = 1000;

/** The fields of a message that carry personal data, as pseudonymisation reads and rewrites them. */
export type PersonalFields = Pick<MessageRecord, '_id' | 'content' | 'metadata'>;

export type HistoryOrder = 'asc' | 'desc';

/** What analytics reads of every message: no content, no terms. */
const ANALYTICS_MESSAGE_FIELDS = {
  conversationId: 1,
  userId: 1,
  type: 1,
  status: 1,
  'error.code': 1,
  'generation.agentKey': 1,
  'generation.model': 1,
  'generation.finishReason': 1,
  'generation.timeToFirstToken': 1,
  processingTime: 1,
  tokensUsed: 1,
  timestamp: 1,
} as const;

export type AnalyticsMessageRecord = Pick<MessageRecord, '_id' | 'conversationId' | 'userId' | 'type' | 'status' | 'timestamp'> & {
  error?: Pick<MessageError, 'code'> | null;
  generation?: Partial<Pick<GenerationInfo, 'agentKey' | 'model' | 'finishReason' | 'timeToFirstToken'>>;
  processingTime?: number;
  tokensUsed?: TokenUsage;
};

export type QuestionTermsRecord = Pick<MessageRecord, '_id' | 'conversationId' | 'userId' | 'timestamp' | 'searchTerms'>;

const { trusted } = mongoose;

/** The only owner of the chat_messages Model; the owner id is the first argument of every method. */
@Injectable()
export class MessagesRepository {
  constructor(@InjectModel(Message.name) private readonly model: Model<Message>) {}

  async insertMany(ownerId: string, conversationId: Types.ObjectId, messages: NewMessage[]): Promise<MessageRecord[]> {
    const now = new Date();
    const docs = messages.map((message) => ({
      ...message,
      ...searchFields('searchTerms', message.content),
      conversationId,
      userId: ownerId,
      createdAt: message.timestamp,
      // The time of the write, not of the message: a back-dated import must still reach incremental exports.
      updatedAt: now,
    }));
    const inserted = await this.model.insertMany(docs, { ordered: true, lean: false });
    return inserted.map((doc) => doc.toObject<MessageRecord>());
  }

  /**
   * Which of these legacy keys a message carries already, whoever owns it now (an anonymised
   * message keeps its key under the pseudonym: it must not come back under the real id).
   */
  async existingLegacyKeys(keys: readonly string[]): Promise<Set<string>> {
    const found = await this.model
      .find({ legacyKey: trusted({ $in: keys }) }, { _id: 0, legacyKey: 1 })
      .lean<{ legacyKey: string }[]>()
      .exec();
    return new Set(found.map((record) => record.legacyKey));
  }

  /** One page of a conversation's history in `order`, strictly past the cursor; fetches `limit + 1` rows. */
  page(
    ownerId: string,
    conversationId: Types.ObjectId,
    order: HistoryOrder,
    limit: number,
    after?: CursorPosition,
  ): Promise<MessageRecord[]> {
    const direction = order === 'asc' ? 1 : -1;
    const beyond = order === 'asc' ? '$gt' : '$lt';
    const query: Record<string, unknown> = { conversationId, userId: ownerId };
    if (after) {
      query.$or = [{ timestamp: trusted({ [beyond]: after.key }) }, { timestamp: after.key, _id: trusted({ [beyond]: after.id }) }];
    }
    return this.model
      .find(query)
      .sort({ timestamp: direction, _id: direction })
      .limit(limit + 1)
      .lean<MessageRecord[]>()
      .exec();
  }

  /** The message's conversation, or null when it is not the owner's. */
  adjustAttachmentCount(ownerId: string, messageId: Types.ObjectId, delta: number): Promise<Pick<MessageRecord, 'conversationId'> | null> {
    return this.model
      .findOneAndUpdate({ _id: messageId, userId: ownerId }, { $inc: { attachmentCount: delta } }, { projection: { conversationId: 1 } })
      .lean<Pick<MessageRecord, 'conversationId'>>()
      .exec();
  }

  /** Deletes one message of the owner's conversation; returns it as it was, or null. */
  deleteOne(ownerId: string, conversationId: Types.ObjectId, messageId: Types.ObjectId): Promise<MessageRecord | null> {
    return this.model.findOneAndDelete({ _id: messageId, conversationId, userId: ownerId }).lean<MessageRecord>().exec();
  }

  async latestTimestamp(ownerId: string, conversationId: Types.ObjectId): Promise<Date | null> {
    const latest = await this.model
      .findOne({ conversationId, userId: ownerId }, { timestamp: 1 })
      .sort({ timestamp: -1, _id: -1 })
      .lean<Pick<MessageRecord, 'timestamp'>>()
      .exec();
    return latest?.timestamp ?? null;
  }

  findOne(ownerId: string, conversationId: Types.ObjectId, messageId: Types.ObjectId): Promise<MessageRecord | null> {
    return this.model.findOne({ _id: messageId, conversationId, userId: ownerId }).lean<MessageRecord>().exec();
  }

  findById(ownerId: string, messageId: Types.ObjectId): Promise<MessageRecord | null> {
    return this.model.findOne({ _id: messageId, userId: ownerId }).lean<MessageRecord>().exec();
  }

  /** The newest completed messages before `beforeSeq`, newest first (the context window is cut from these). */
  recentCompleted(ownerId: string, conversationId: Types.ObjectId, beforeSeq: number, limit: number): Promise<MessageRecord[]> {
    return this.model
      .find({ conversationId, userId: ownerId, seq: trusted({ $lt: beforeSeq }), status: 'completed' })
      .sort({ seq: -1 })
      .limit(limit)
      .lean<MessageRecord[]>()
      .exec();
  }

  /** Replies before `beforeSeq` in the conversation still being written (by any instance) and touched since `updatedSince`. */
  async pendingRepliesBefore(conversationId: Types.ObjectId, beforeSeq: number, updatedSince: Date): Promise<string[]> {
    const pending = await this.model
      .find(
        {
          conversationId,
          type: 'assistant',
          status: PENDING,
          seq: trusted({ $lt: beforeSeq }),
          updatedAt: trusted({ $gte: updatedSince }),
        },
        { _id: 1 },
      )
      .limit(100)
      .lean<Pick<MessageRecord, '_id'>[]>()
      .exec();
    return pending.map((reply) => reply._id.toHexString());
  }

  /** A pending reply starts being written now: the stale-replies job counts its age from here. */
  async touchPending(messageId: Types.ObjectId): Promise<void> {
    await this.model.updateOne({ _id: messageId, status: PENDING }, { $set: { updatedAt: new Date() } }).exec();
  }

  afterSeq(ownerId: string, conversationId: Types.ObjectId, afterSeq: number, limit: number): Promise<MessageRecord[]> {
    return this.model
      .find({ conversationId, userId: ownerId, seq: trusted({ $gt: afterSeq }) })
      .sort({ seq: 1 })
      .limit(limit)
      .lean<MessageRecord[]>()
      .exec();
  }

  /** Completed messages with afterSeq < seq <= throughSeq, oldest first (for the rolling summary). */
  completedBetween(ownerId: string, conversationId: Types.ObjectId, afterSeq: number, throughSeq: number): Promise<MessageRecord[]> {
    return this.model
      .find({ conversationId, userId: ownerId, seq: trusted({ $gt: afterSeq, $lte: throughSeq }), status: 'completed' })
      .sort({ seq: 1 })
      .lean<MessageRecord[]>()
      .exec();
  }

  complete(ownerId: string, messageId: Types.ObjectId, reply: CompletedReply): Promise<MessageRecord | null> {
    return this.model
      .findOneAndUpdate(
        { _id: messageId, userId: ownerId, status: PENDING },
        {
          $set: {
            content: reply.content,
            ...searchFields('searchTerms', reply.content),
            tokens: reply.tokens,
            status: 'completed',
            error: null,
            tokensUsed: reply.tokensUsed,
            processingTime: reply.processingTime,
            'generation.model': reply.model,
            'generation.finishReason': reply.finishReason,
            'generation.timeToFirstToken': reply.timeToFirstToken,
          },
        },
        { returnDocument: 'after' },
      )
      .lean<MessageRecord>()
      .exec();
  }

  /** Keeps whatever text arrived before the failure, so the user sees how far it got. */
  fail(
    ownerId: string,
    messageId: Types.ObjectId,
    error: MessageError,
    partialContent: string,
    processingTime: number,
  ): Promise<MessageRecord | null> {
    return this.model
      .findOneAndUpdate(
        { _id: messageId, userId: ownerId, status: PENDING },
        {
          $set: {
            status: 'failed',
            error,
            content: partialContent,
            ...searchFields('searchTerms', partialContent),
            tokens: countTokens(partialContent),
            processingTime,
          },
        },
        { returnDocument: 'after' },
      )
      .lean<MessageRecord>()
      .exec();
  }

  /** Back to pending for another attempt; null when a reply is already in flight. */
  resetForRegeneration(ownerId: string, messageId: Types.ObjectId, generation: GenerationInfo): Promise<MessageRecord | null> {
    return this.model
      .findOneAndUpdate(
        { _id: messageId, userId: ownerId, type: 'assistant', status: trusted({ $ne: PENDING }) },
        {
          $set: { status: 'pending', content: '', ...searchFields('searchTerms', ''), tokens: 0, error: null, generation },
          $unset: { tokensUsed: 1, processingTime: 1 },
        },
        { returnDocument: 'after' },
      )
      .lean<MessageRecord>()
      .exec();
  }

  /** A user's messages matching a term search, newest first, streamed in batches (the caller stops when it has enough). */
  search(ownerId: string, filter: MessageSearchFilter): AsyncIterable<MessageRecord> {
    const terms = termFilter('searchTerms', filter.terms);
    const query: Record<string, unknown> = {
      userId: ownerId,
      ...terms.query,
      ...conversationScope(filter),
      ...timeRange('timestamp', filter.from, filter.to),
    };
    if (filter.type) query.type = filter.type;
    if (filter.hasAttachments !== undefined) {
      query.attachmentCount = trusted(filter.hasAttachments ? { $gt: 0 } : { $in: [0, null] });
    }
    const and = [...terms.and, ...(filter.before ? [beforeKeyset('timestamp', filter.before)] : [])];
    if (and.length > 0) query.$and = and;
    const found = this.model.find(query).sort({ timestamp: -1, _id: -1 });
    if (filter.limit !== undefined) found.limit(filter.limit);
    return found.batchSize(100).lean<MessageRecord>().cursor();
  }

  /** Every message changed after the position and at or before `until`, oldest change first (incremental export), streamed. */
  changedSince(after: { time: Date; id: Types.ObjectId | null }, until: Date, limit: number): AsyncIterable<MessageRecord> {
    const since = after.id
      ? { $or: [{ updatedAt: trusted({ $gt: after.time }) }, { updatedAt: after.time, _id: trusted({ $gt: after.id }) }] }
      : { updatedAt: trusted({ $gte: after.time }) };
    return this.model
      .find({ $and: [since, { updatedAt: trusted({ $lte: until }) }] })
      .sort({ updatedAt: 1, _id: 1 })
      .limit(limit)
      .batchSize(500)
      .lean<MessageRecord>()
      .cursor();
  }

  /** A conversation's messages in order, optionally within a time range, streamed. */
  streamConversation(ownerId: string, conversationId: Types.ObjectId, range: { from?: Date; to?: Date }): AsyncIterable<MessageRecord> {
    const query: Record<string, unknown> = { conversationId, userId: ownerId };
    if (range.from || range.to) {
      query.timestamp = trusted({ ...(range.from ? { $gte: range.from } : {}), ...(range.to ? { $lte: range.to } : {}) });
    }
    return this.model.find(query).sort({ seq: 1 }).batchSize(200).lean<MessageRecord>().cursor();
  }

  /**
   * Maintenance (the count repair): how many messages a conversation holds and its highest seq (0
   * when empty). Found by conversation alone: while a user is being pseudonymised, a conversation
   * and its messages can name different owners for a while, and must still count alike.
   */
  async conversationCounts(conversationId: Types.ObjectId): Promise<{ count: number; maxSeq: number }> {
    const [count, highest] = await Promise.all([
      this.model.countDocuments({ conversationId }).exec(),
      this.model.findOne({ conversationId }, { seq: 1 }).sort({ seq: -1 }).lean<Pick<MessageRecord, 'seq'>>().exec(),
    ]);
    return { count, maxSeq: highest?.seq ?? 0 };
  }

  /** Maintenance (the count repair): the time of a conversation's newest message, found by conversation alone. */
  async conversationLatestTimestamp(conversationId: Types.ObjectId): Promise<Date | null> {
    const latest = await this.model
      .findOne({ conversationId }, { timestamp: 1 })
      .sort({ timestamp: -1, _id: -1 })
      .lean<Pick<MessageRecord, 'timestamp'>>()
      .exec();
    return latest?.timestamp ?? null;
  }

  /** Analytics: every message written within [from, to), oldest first, without content or terms, streamed. */
  writtenBetween(from: Date, to: Date): AsyncIterable<AnalyticsMessageRecord> {
    return this.model
      .find({ timestamp: trusted({ $gte: from, $lt: to }) }, ANALYTICS_MESSAGE_FIELDS)
      .sort({ timestamp: 1, _id: 1 })
      .batchSize(1000)
      .lean<AnalyticsMessageRecord>()
      .cursor();
  }

  /** Analytics: the search terms of the user messages written within [from, to), streamed. */
  questionTermsBetween(from: Date, to: Date): AsyncIterable<QuestionTermsRecord> {
    return this.model
      .find({ type: 'user', timestamp: trusted({ $gte: from, $lt: to }) }, { conversationId: 1, userId: 1, timestamp: 1, searchTerms: 1 })
      .sort({ timestamp: 1, _id: 1 })
      .batchSize(500)
      .lean<QuestionTermsRecord>()
      .cursor();
  }

  /** Analytics: when the oldest message was written (where a first rollup starts). */
  async oldestTimestamp(): Promise<Date | null> {
    const oldest = await this.model.findOne({}, { timestamp: 1 }).sort({ timestamp: 1 }).lean<Pick<MessageRecord, 'timestamp'>>().exec();
    return oldest?.timestamp ?? null;
  }

  /** Analytics: the text of some user messages (the samples of unanswered questions). */
  questionsByIds(ids: readonly Types.ObjectId[]): Promise<Pick<MessageRecord, '_id' | 'content'>[]> {
    return this.model
      .find({ _id: trusted({ $in: ids }), type: 'user' }, { content: 1 })
      .lean<Pick<MessageRecord, '_id' | 'content'>[]>()
      .exec();
  }

  /** Every message of the owner, oldest first, streamed (user data export). */
  streamOwned(ownerId: string): AsyncIterable<MessageRecord> {
    return this.model.find({ userId: ownerId }).sort({ timestamp: 1 }).batchSize(500).lean<MessageRecord>().cursor();
  }

  countOwned(ownerId: string): Promise<number> {
    return this.model.countDocuments({ userId: ownerId }).exec();
  }

  /** Removes every message of the owner; answers how many. */
  async deleteOwned(ownerId: string): Promise<number> {
    return (await this.model.deleteMany({ userId: ownerId }).exec()).deletedCount;
  }

  /** Up to `limit` of the owner's messages (only in `conversationIds` when given), with their personal fields. */
  personalFields(ownerId: string, conversationIds: readonly Types.ObjectId[] | undefined, limit: number): Promise<PersonalFields[]> {
    const query: Record<string, unknown> = { userId: ownerId };
    if (conversationIds) query.conversationId = trusted({ $in: conversationIds });
    return this.model.find(query, { content: 1, metadata: 1 }).limit(limit).lean<PersonalFields[]>().exec();
  }

  /**
   * Gives the owner's messages to `pseudonym` with content and metadata rewritten, and drops their
   * search terms. Token counts, types, times and sequence numbers stay, so counts and aggregates
   * hold. Answers how many changed.
   */
  async replaceOwner(ownerId: string, pseudonym: string, rewritten: readonly PersonalFields[], now: Date): Promise<number> {
    if (rewritten.length === 0) return 0;
    const result = await this.model.bulkWrite(
      rewritten.map((message) => ({
        updateOne: {
          filter: { _id: message._id, userId: ownerId },
          update: {
            $set: { userId: pseudonym, content: message.content, metadata: message.metadata, updatedAt: now },
            $unset: { searchTerms: 1, searchTermsVersion: 1 },
          },
        },
      })),
      { ordered: false, timestamps: false },
    );
    return result.modifiedCount;
  }

  /** Maintenance across all users (retention): messages of these conversations. */
  countInConversations(conversationIds: readonly Types.ObjectId[]): Promise<number> {
    if (conversationIds.length === 0) return Promise.resolve(0);
    return this.model.countDocuments({ conversationId: trusted({ $in: conversationIds }) }).exec();
  }

  /** Maintenance across all users (retention): removes the messages of these conversations; answers how many. */
  async deleteInConversations(conversationIds: readonly Types.ObjectId[]): Promise<number> {
    if (conversationIds.length === 0) return 0;
    return (await this.model.deleteMany({ conversationId: trusted({ $in: conversationIds }) }).exec()).deletedCount;
  }

  /** Maintenance across all users: replies still in flight since before `staleBefore` were orphaned by a crash. */
  /** Fails the replies pending since before `staleBefore`; answers how many and in which conversations. */
  async failStaleReplies(staleBefore: Date, error: MessageError): Promise<{ count: number; conversationIds: Types.ObjectId[] }> {
    // Found first, then failed by id: the caller learns exactly which conversations changed.
    const stale = await this.model
      .find({ status: PENDING, updatedAt: trusted({ $lt: staleBefore }) }, { conversationId: 1 })
      .limit(STALE_REPLIES_BATCH)
      .lean<Pick<MessageRecord, '_id' | 'conversationId'>[]>()
      .exec();
    if (stale.length === 0) return { count: 0, conversationIds: [] };
    const result = await this.model
      .updateMany(
        { _id: trusted({ $in: stale.map((reply) => reply._id) }), status: PENDING, updatedAt: trusted({ $lt: staleBefore }) },
        { $set: { status: 'failed', error } },
      )
      .exec();
    const conversationIds = [...new Map(stale.map((reply) => [reply.conversationId.toHexString(), reply.conversationId])).values()];
    return { count: result.modifiedCount, conversationIds };
  }
}
