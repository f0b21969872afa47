import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import type { CursorPosition } from '../../common/pagination/cursor.js';
import { HoldActor, LegalHold, LegalHoldTarget } from './schemas/legal-hold.schema.js';

/** A hold as stored, as a plain object (never a Mongoose document). */
export type LegalHoldRecord = LegalHold;

/** What forgetting a conversation's owner reads and rewrites of a released hold on it. */
export type ConversationHoldNames = Pick<LegalHoldRecord, '_id' | 'targetId' | 'conversationOwnerId'>;

/** Released holds on conversations, by owner, or by conversation (24-hex ids) and owner. */
export interface ReleasedConversationHoldsFilter {
  ownerId: string;
  /** When given: only holds on these conversations, naming `ownerId` as their owner or no owner at all. */
  conversationIds?: readonly string[];
}

export interface LegalHoldListFilter {
  /** true: holds not released; false: released ones; absent: both. */
  active?: boolean;
  target?: LegalHoldTarget;
  targetId?: string;
  limit: number;
  after?: CursorPosition;
}

const { trusted } = mongoose;

/** The only owner of the chat_legal_holds Model. */
@Injectable()
export class LegalHoldsRepository {
  constructor(@InjectModel(LegalHold.name) private readonly model: Model<LegalHold>) {}

  async insert(hold: Omit<LegalHoldRecord, '_id' | 'releasedAt' | 'releasedBy' | 'releaseReason'>): Promise<LegalHoldRecord> {
    const created = await new this.model({ ...hold, releasedAt: null, releasedBy: null, releaseReason: null }).save();
    return created.toObject<LegalHoldRecord>();
  }

  findById(id: Types.ObjectId): Promise<LegalHoldRecord | null> {
    return this.model.findById(id).lean<LegalHoldRecord>().exec();
  }

  /** Newest placed first, strictly after the cursor position; `limit + 1` rows (see toPage). */
  list(filter: LegalHoldListFilter): Promise<LegalHoldRecord[]> {
    const query: Record<string, unknown> = {};
    if (filter.target !== undefined) query.target = filter.target;
    if (filter.targetId !== undefined) query.targetId = filter.targetId;
    if (filter.active === true) query.releasedAt = null;
    if (filter.active === false) query.releasedAt = trusted({ $ne: null });
    if (filter.after) {
      query.$or = [
        { placedAt: trusted({ $lt: filter.after.key }) },
        { placedAt: filter.after.key, _id: trusted({ $lt: filter.after.id }) },
      ];
    }
    return this.model
      .find(query)
      .sort({ placedAt: -1, _id: -1 })
      .limit(filter.limit + 1)
      .lean<LegalHoldRecord[]>()
      .exec();
  }

  /** Releases the hold unless it already is; null when it was not active (missing or released before). */
  release(
    id: Types.ObjectId,
    release: { releasedAt: Date; releasedBy: HoldActor; releaseReason: string },
  ): Promise<LegalHoldRecord | null> {
    return this.model
      .findOneAndUpdate({ _id: id, releasedAt: null }, { $set: release }, { returnDocument: 'after' })
      .lean<LegalHoldRecord>()
      .exec();
  }

  /** The active holds on any of these targets, oldest first. */
  activeOn(target: LegalHoldTarget, targetIds: readonly string[]): Promise<Pick<LegalHoldRecord, '_id' | 'targetId'>[]> {
    if (targetIds.length === 0) return Promise.resolve([]);
    return this.model
      .find({ target, targetId: trusted({ $in: [...new Set(targetIds)] }), releasedAt: null }, { _id: 1, targetId: 1 })
      .sort({ placedAt: 1, _id: 1 })
      .lean<Pick<LegalHoldRecord, '_id' | 'targetId'>[]>()
      .exec();
  }

  /** Holds that name the user anywhere: as their target, or as the admin who placed or released them. */
  countMentioning(userId: string): Promise<number> {
    return this.model.countDocuments(mentioning(userId)).exec();
  }

  /** Holds on the user and on conversations of theirs, oldest first, streamed. */
  streamAboutUser(userId: string): AsyncIterable<LegalHoldRecord> {
    return this.model
      .find({ $or: about(userId) })
      .sort({ placedAt: 1, _id: 1 })
      .lean<LegalHoldRecord>()
      .cursor();
  }

  countActedOnBy(userId: string): Promise<number> {
    return this.model.countDocuments({ $or: actedOnBy(userId) }).exec();
  }

  /** Holds the user placed or released (as an admin), oldest first, streamed. */
  streamActedOnBy(userId: string): AsyncIterable<LegalHoldRecord> {
    return this.model
      .find({ $or: actedOnBy(userId) })
      .sort({ placedAt: 1, _id: 1 })
      .lean<LegalHoldRecord>()
      .cursor();
  }

  /** The active holds on the user and on conversations of theirs, oldest first. */
  activeCoveringUser(userId: string): Promise<Pick<LegalHoldRecord, '_id' | 'target' | 'targetId'>[]> {
    return this.model
      .find({ $or: about(userId), releasedAt: null }, { _id: 1, target: 1, targetId: 1 })
      .sort({ placedAt: 1, _id: 1 })
      .lean<Pick<LegalHoldRecord, '_id' | 'target' | 'targetId'>[]>()
      .exec();
  }

  /**
   * Puts `replacement` in place of the user's id wherever a hold names them: as the target or
   * the held conversation's owner of a released hold, and as the admin who placed or released
   * any hold. Active holds on the user are left alone (the caller refuses to erase a held user
   * first).
   */
  async replaceUserId(userId: string, replacement: string): Promise<void> {
    const released = trusted({ $ne: null });
    await this.model.updateMany({ target: 'user', targetId: userId, releasedAt: released }, { $set: { targetId: replacement } }).exec();
    await this.model
      .updateMany({ conversationOwnerId: userId, releasedAt: released }, { $set: { conversationOwnerId: replacement } })
      .exec();
    await this.model.updateMany({ 'placedBy.userId': userId }, { $set: { 'placedBy.userId': replacement } }).exec();
    await this.model.updateMany({ 'releasedBy.userId': userId }, { $set: { 'releasedBy.userId': replacement } }).exec();
  }

  /** Released holds on conversations that still name them and their owner in plain, at most `limit`. */
  releasedOnConversations(filter: ReleasedConversationHoldsFilter, limit: number): Promise<ConversationHoldNames[]> {
    const query: Record<string, unknown> = { target: 'conversation', releasedAt: trusted({ $ne: null }) };
    if (filter.conversationIds === undefined) {
      query.conversationOwnerId = filter.ownerId;
    } else {
      if (filter.conversationIds.length === 0) return Promise.resolve([]);
      query.targetId = trusted({ $in: [...new Set(filter.conversationIds)] });
      query.conversationOwnerId = trusted({ $in: [filter.ownerId, null] });
    }
    return this.model.find(query, { _id: 1, targetId: 1, conversationOwnerId: 1 }).limit(limit).lean<ConversationHoldNames[]>().exec();
  }

  /** Sets the names of these released conversation holds; answers how many changed. */
  async renameConversationHolds(renamed: readonly ConversationHoldNames[]): Promise<number> {
    if (renamed.length === 0) return 0;
    const result = await this.model.bulkWrite(
      renamed.map((hold) => ({
        updateOne: {
          filter: { _id: hold._id, target: 'conversation', releasedAt: trusted({ $ne: null }) },
          update: { $set: { targetId: hold.targetId, conversationOwnerId: hold.conversationOwnerId } },
        },
      })),
      { ordered: false },
    );
    return result.modifiedCount;
  }
}

/** Holds whose subject is the user: on them, or on a conversation of theirs. */
function about(userId: string): Record<string, unknown>[] {
  return [{ target: 'user', targetId: userId }, { conversationOwnerId: userId }];
}

/** Holds the user placed or released, as an admin. */
function actedOnBy(userId: string): Record<string, unknown>[] {
  return [{ 'placedBy.userId': userId }, { 'releasedBy.userId': userId }];
}

/** Holds that name the user anywhere: as their subject, or as the admin who placed or released them. */
function mentioning(userId: string): Record<string, unknown> {
  return { $or: [...about(userId), ...actedOnBy(userId)] };
}
