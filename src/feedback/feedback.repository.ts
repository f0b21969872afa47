import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import { MessageFeedback, Rating } from './schemas/feedback.schema.js';

export type FeedbackRecord = MessageFeedback;

/** The fields of a rating that carry personal data, as pseudonymisation reads and rewrites them. */
export type PersonalFields = Pick<FeedbackRecord, '_id' | 'comment'>;

const { trusted } = mongoose;

@Injectable()
export class FeedbackRepository {
  constructor(@InjectModel(MessageFeedback.name) private readonly model: Model<MessageFeedback>) {}

  /** One document per (message, user): a second rating replaces the first. */
  upsert(
    ownerId: string,
    feedback: {
      messageId: Types.ObjectId;
      conversationId: Types.ObjectId;
      agentKey: string | null;
      agentVersion: number | null;
      rating: Rating;
      comment: string | null;
    },
  ): Promise<FeedbackRecord> {
    const { messageId, ...rest } = feedback;
    return this.model
      .findOneAndUpdate(
        { messageId, userId: ownerId },
        { $set: rest, $setOnInsert: { messageId, userId: ownerId } },
        { upsert: true, returnDocument: 'after' },
      )
      .lean<FeedbackRecord>()
      .orFail()
      .exec();
  }

  /** Analytics: every rating first given within [from, to), oldest first, streamed (no comment text). */
  createdBetween(
    from: Date,
    to: Date,
  ): AsyncIterable<Pick<FeedbackRecord, 'userId' | 'conversationId' | 'agentKey' | 'rating' | 'comment' | 'createdAt'>> {
    return this.model
      .find(
        { createdAt: trusted({ $gte: from, $lt: to }) },
        { userId: 1, conversationId: 1, agentKey: 1, rating: 1, comment: 1, createdAt: 1 },
      )
      .sort({ createdAt: 1, _id: 1 })
      .batchSize(1000)
      .lean<Pick<FeedbackRecord, 'userId' | 'conversationId' | 'agentKey' | 'rating' | 'comment' | 'createdAt'>>()
      .cursor();
  }

  /** Analytics (admins): the newest comments given within [from, to), optionally of one user or agent. */
  commentsBetween(from: Date, to: Date, filter: { userId?: string; agentKey?: string }, limit: number): Promise<FeedbackRecord[]> {
    const query: Record<string, unknown> = { createdAt: trusted({ $gte: from, $lt: to }), comment: trusted({ $ne: null }) };
    if (filter.userId !== undefined) query.userId = filter.userId;
    if (filter.agentKey !== undefined) query.agentKey = filter.agentKey;
    return this.model.find(query).sort({ createdAt: -1, _id: -1 }).limit(limit).lean<FeedbackRecord[]>().exec();
  }

  /** Every rating of the owner, oldest first, streamed (user data export). */
  streamOwned(ownerId: string): AsyncIterable<FeedbackRecord> {
    return this.model.find({ userId: ownerId }).sort({ createdAt: 1 }).batchSize(500).lean<FeedbackRecord>().cursor();
  }

  countOwned(ownerId: string): Promise<number> {
    return this.model.countDocuments({ userId: ownerId }).exec();
  }

  /** Removes every rating of the owner; answers how many. */
  async deleteOwned(ownerId: string): Promise<number> {
    return (await this.model.deleteMany({ userId: ownerId }).exec()).deletedCount;
  }

  /** Up to `limit` of the owner's ratings (only in `conversationIds` when given), with their comments. */
  personalFields(ownerId: string, conversationIds: readonly Types.ObjectId[] | undefined, limit: number): Promise<PersonalFields[]> {
    const query: Record<string, unknown> = { userId: ownerId };
    if (conversationIds) query.conversationId = trusted({ $in: conversationIds });
    return this.model.find(query, { comment: 1 }).limit(limit).lean<PersonalFields[]>().exec();
  }

  /** Gives the owner's ratings to `pseudonym` with their comments rewritten; rating and agent version stay. */
  async replaceOwner(ownerId: string, pseudonym: string, rewritten: readonly PersonalFields[], now: Date): Promise<number> {
    if (rewritten.length === 0) return 0;
    const result = await this.model.bulkWrite(
      rewritten.map((feedback) => ({
        updateOne: {
          filter: { _id: feedback._id, userId: ownerId },
          update: { $set: { userId: pseudonym, comment: feedback.comment, updatedAt: now } },
        },
      })),
      { ordered: false, timestamps: false },
    );
    return result.modifiedCount;
  }

  /** Maintenance across all users (retention): ratings in these conversations. */
  countInConversations(conversationIds: readonly Types.ObjectId[]): Promise<number> {
    if (conversationIds.length === 0) return Promise.resolve(0);
    return this.model.countDocuments({ conversationId: trusted({ $in: conversationIds }) }).exec();
  }

  /** Maintenance across all users (retention): removes the ratings in these conversations; answers how many. */
  async deleteInConversations(conversationIds: readonly Types.ObjectId[]): Promise<number> {
    if (conversationIds.length === 0) return 0;
    return (await this.model.deleteMany({ conversationId: trusted({ $in: conversationIds }) }).exec()).deletedCount;
  }
}
