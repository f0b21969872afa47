import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import { Erasure, ErasureCount, ErasureMode, ErasureRequester, activeErasureKey, finishedErasureKey } from './schemas/erasure.schema.js';

export type ErasureRecord = Erasure;

const { trusted } = mongoose;
const IN_PROGRESS = ['pending', 'running'] as const;

/** A runner's claim on a record: who, until when. */
export interface ErasureClaim {
  by: string;
  until: Date;
}

export interface NewErasure {
  subjectUserId: string;
  subjectHash: string;
  mode: ErasureMode;
  pseudonym?: string;
  maskNames?: string[];
  requestedBy: ErasureRequester;
  reason: string | null;
}

/** The only owner of the chat_erasures Model. */
@Injectable()
export class ErasuresRepository {
  constructor(@InjectModel(Erasure.name) private readonly model: Model<Erasure>) {}

  /** Inserts a running record under `claim`; a duplicate key error (11000) means the subject has one in progress. */
  async insertRunning(erasure: NewErasure, claim: ErasureClaim, now: Date): Promise<ErasureRecord> {
    const created = await new this.model({
      ...erasure,
      state: 'running',
      activeKey: activeErasureKey(erasure.subjectHash),
      attempts: 1,
      startedAt: now,
      claimedBy: claim.by,
      claimedUntil: claim.until,
    }).save();
    return created.toObject<ErasureRecord>();
  }

  find(id: Types.ObjectId): Promise<ErasureRecord | null> {
    return this.model.findById(id).lean<ErasureRecord>().exec();
  }

  findActive(subjectHash: string): Promise<ErasureRecord | null> {
    return this.model
      .findOne({ activeKey: activeErasureKey(subjectHash) })
      .lean<ErasureRecord>()
      .exec();
  }

  /** The subject's latest erasure or anonymisation that is done or in progress (failed ones left nothing behind to respect). */
  latestNotFailed(subjectHash: string): Promise<Pick<ErasureRecord, 'mode' | 'state' | 'startedAt'> | null> {
    return this.model
      .findOne({ subjectHash, state: trusted({ $ne: 'failed' }) }, { mode: 1, state: 1, startedAt: 1 })
      .sort({ startedAt: -1 })
      .lean<Pick<ErasureRecord, 'mode' | 'state' | 'startedAt'>>()
      .exec();
  }

  /** Takes over this record if it is in progress and nobody's claim holds (its runner stopped, or it waits for a retry). */
  claim(id: Types.ObjectId, claim: ErasureClaim, now: Date): Promise<ErasureRecord | null> {
    return this.model
      .findOneAndUpdate(
        { _id: id, state: trusted({ $in: IN_PROGRESS }), claimedUntil: trusted({ $lte: now }) },
        { $set: { state: 'running', claimedBy: claim.by, claimedUntil: claim.until }, $inc: { attempts: 1 } },
        { returnDocument: 'after' },
      )
      .lean<ErasureRecord>()
      .exec();
  }

  /** Takes over the in-progress record whose claim expired first, if any. */
  claimNextAbandoned(claim: ErasureClaim, now: Date): Promise<ErasureRecord | null> {
    return this.model
      .findOneAndUpdate(
        { state: trusted({ $in: IN_PROGRESS }), claimedUntil: trusted({ $lte: now }) },
        { $set: { state: 'running', claimedBy: claim.by, claimedUntil: claim.until }, $inc: { attempts: 1 } },
        { sort: { claimedUntil: 1 }, returnDocument: 'after' },
      )
      .lean<ErasureRecord>()
      .exec();
  }

  /** Extends the claim; false when it was lost (another runner took the record over). */
  async renewClaim(id: Types.ObjectId, claim: ErasureClaim): Promise<boolean> {
    const result = await this.model
      .updateOne({ _id: id, state: 'running', claimedBy: claim.by }, { $set: { claimedUntil: claim.until } })
      .exec();
    return result.matchedCount === 1;
  }

  /** Records a provider as done with its counts (once), renewing the claim; false when the claim was lost. */
  async markProviderDone(id: Types.ObjectId, claim: ErasureClaim, provider: string, counts: ErasureCount[]): Promise<boolean> {
    const result = await this.model
      .updateOne(
        { _id: id, state: 'running', claimedBy: claim.by, providersDone: trusted({ $ne: provider }) },
        { $push: { providersDone: provider, counts: { $each: counts } }, $set: { claimedUntil: claim.until } },
      )
      .exec();
    return result.matchedCount === 1;
  }

  async markAudited(id: Types.ObjectId, claim: ErasureClaim): Promise<boolean> {
    const result = await this.model.updateOne({ _id: id, state: 'running', claimedBy: claim.by }, { $set: { audited: true } }).exec();
    return result.matchedCount === 1;
  }

  /** Done: the subject is named by the hash alone from now on (and a self-request's requester with it). */
  finish(id: Types.ObjectId, claim: ErasureClaim, selfRequested: boolean, now: Date): Promise<ErasureRecord | null> {
    return this.model
      .findOneAndUpdate(
        { _id: id, state: 'running', claimedBy: claim.by },
        {
          $set: { state: 'done', activeKey: finishedErasureKey(id), finishedAt: now, error: null, claimedBy: null, claimedUntil: null },
          $unset: { subjectUserId: 1, pseudonym: 1, maskNames: 1, ...(selfRequested ? { 'requestedBy.userId': 1 } : {}) },
        },
        { returnDocument: 'after' },
      )
      .lean<ErasureRecord>()
      .exec();
  }

  /** An attempt failed: the record waits until `retryAt` for the next one (the erasures job takes it then). */
  async postpone(id: Types.ObjectId, claim: ErasureClaim, error: string, retryAt: Date): Promise<void> {
    await this.model
      .updateOne(
        { _id: id, state: 'running', claimedBy: claim.by },
        { $set: { state: 'pending', error, claimedBy: null, claimedUntil: retryAt } },
      )
      .exec();
  }

  /**
   * Given up (attempts used up, or a legal hold placed meanwhile): the subject is free for a new
   * request. The subject's id stays, so admins can see whom it concerned; the names and pseudonym go.
   */
  async fail(id: Types.ObjectId, claim: ErasureClaim, error: string, now: Date): Promise<ErasureRecord | null> {
    return this.model
      .findOneAndUpdate(
        { _id: id, state: 'running', claimedBy: claim.by },
        {
          $set: { state: 'failed', activeKey: finishedErasureKey(id), error, finishedAt: now, claimedBy: null, claimedUntil: null },
          $unset: { pseudonym: 1, maskNames: 1 },
        },
        { returnDocument: 'after' },
      )
      .lean<ErasureRecord>()
      .exec();
  }

  // The user-data provider's part: records that name a user, other than those in progress (the
  // erasure in progress names its subject until it is done).

  async countNaming(userId: string): Promise<number> {
    return this.model.countDocuments(this.finishedNaming(userId)).exec();
  }

  cursorNaming(userId: string): AsyncIterable<ErasureRecord> {
    return this.model.find(this.finishedNaming(userId)).sort({ _id: 1 }).lean<ErasureRecord>().cursor();
  }

  /**
   * The user leaves (erased or anonymised): failed records about them keep only the hash; records
   * they requested keep only the roles. Never their pseudonym: the audit entries about those
   * requests point at the records, and a pseudonym there would link the person to their
   * anonymised data.
   */
  async forgetUser(userId: string): Promise<number> {
    const finished = trusted({ $nin: IN_PROGRESS });
    const subject = await this.model.updateMany({ subjectUserId: userId, state: finished }, { $unset: { subjectUserId: 1 } }).exec();
    const requester = await this.model
      .updateMany({ 'requestedBy.userId': userId, state: finished }, { $unset: { 'requestedBy.userId': 1 } })
      .exec();
    return subject.modifiedCount + requester.modifiedCount;
  }

  private finishedNaming(userId: string) {
    return {
      state: trusted({ $nin: IN_PROGRESS }),
      $or: [{ subjectUserId: userId }, { 'requestedBy.userId': userId }],
    };
  }
}
