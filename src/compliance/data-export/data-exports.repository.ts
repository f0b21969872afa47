import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import {
  DataExport,
  DataExportArchive,
  DataExportProgress,
  DataExportRequester,
  activeKeyFor,
  finishedKeyFor,
} from './schemas/data-export.schema.js';

export type DataExportRecord = DataExport;

const { trusted } = mongoose;

/** A job's claim: which instance runs it, until when. */
export interface Claim {
  instance: string;
  until: Date;
}

/** The only owner of the chat_data_exports Model. */
@Injectable()
export class DataExportsRepository {
  constructor(@InjectModel(DataExport.name) private readonly model: Model<DataExport>) {}

  /**
   * Inserts a queued job that starts no earlier than `runAfter` (the caller makes it startable
   * once the request is audited); a duplicate key error (11000) means the subject has an active one.
   */
  async createHeld(subjectUserId: string, requestedBy: DataExportRequester, now: Date, runAfter: Date): Promise<DataExportRecord> {
    const created = await new this.model({
      subjectUserId,
      requestedBy,
      status: 'queued',
      activeKey: activeKeyFor(subjectUserId),
      progress: { parts: 0, records: 0, bytes: 0, currentPart: null },
      attempts: 0,
      runAfter,
      createdAt: now,
    }).save();
    return created.toObject<DataExportRecord>();
  }

  async makeStartable(id: Types.ObjectId, now: Date): Promise<void> {
    await this.model.updateOne({ _id: id, status: 'queued' }, { $set: { runAfter: now } }).exec();
  }

  /** A queued job that must not run (its request could not be completed): failed, freeing the subject. */
  async abandonQueued(id: Types.ObjectId, error: string, now: Date): Promise<boolean> {
    const result = await this.model
      .updateOne({ _id: id, status: 'queued' }, { $set: { status: 'failed', error, finishedAt: now, activeKey: finishedKeyFor(id) } })
      .exec();
    return result.matchedCount === 1;
  }

  /** Queued jobs created before `before` that still wait for `heldUntil`: their request never completed. */
  staleHeld(heldUntil: Date, before: Date, limit: number): Promise<DataExportRecord[]> {
    return this.model
      .find({ status: 'queued', runAfter: trusted({ $gte: heldUntil }), createdAt: trusted({ $lt: before }) })
      .limit(limit)
      .lean<DataExportRecord[]>()
      .exec();
  }

  findActive(subjectUserId: string): Promise<DataExportRecord | null> {
    return this.model
      .findOne({ activeKey: activeKeyFor(subjectUserId) })
      .lean<DataExportRecord>()
      .exec();
  }

  find(id: Types.ObjectId): Promise<DataExportRecord | null> {
    return this.model.findById(id).lean<DataExportRecord>().exec();
  }

  /** Takes the oldest queued job that may start now: it becomes `running` under this instance's claim. */
  claimNext(claim: Claim, now: Date): Promise<DataExportRecord | null> {
    return this.model
      .findOneAndUpdate(
        { status: 'queued', runAfter: trusted({ $lte: now }) },
        {
          $set: {
            status: 'running',
            claimedBy: claim.instance,
            claimedUntil: claim.until,
            startedAt: now,
            progress: { parts: 0, records: 0, bytes: 0, currentPart: null },
          },
          $inc: { attempts: 1 },
        },
        { sort: { runAfter: 1, _id: 1 }, returnDocument: 'after' },
      )
      .lean<DataExportRecord>()
      .exec();
  }

  /** Stores progress and extends the claim; false when the claim was lost (taken over, or the job erased). */
  async heartbeat(id: Types.ObjectId, claim: Claim, progress: DataExportProgress): Promise<boolean> {
    const result = await this.model
      .updateOne({ _id: id, status: 'running', claimedBy: claim.instance }, { $set: { progress, claimedUntil: claim.until } })
      .exec();
    return result.matchedCount === 1;
  }

  /** Marks the job ready with its archive, if this instance still holds it; false otherwise. */
  async markReady(
    id: Types.ObjectId,
    instance: string,
    outcome: { archive: DataExportArchive; progress: DataExportProgress; finishedAt: Date; expiresAt: Date },
  ): Promise<DataExportRecord | null> {
    return this.model
      .findOneAndUpdate(
        { _id: id, status: 'running', claimedBy: instance },
        { $set: { ...outcome, status: 'ready', activeKey: finishedKeyFor(id), error: null, claimedBy: null, claimedUntil: null } },
        { returnDocument: 'after' },
      )
      .lean<DataExportRecord>()
      .exec();
  }

  /** After a failed attempt: queued again for `runAfter`, if this instance still holds it. */
  async retryLater(id: Types.ObjectId, instance: string, error: string, runAfter: Date): Promise<boolean> {
    const result = await this.model
      .updateOne(
        { _id: id, status: 'running', claimedBy: instance },
        { $set: { status: 'queued', error, runAfter, claimedBy: null, claimedUntil: null } },
      )
      .exec();
    return result.matchedCount === 1;
  }

  /** The instance is stopping: queued again at once, and the attempt it had started not counted. */
  async release(id: Types.ObjectId, instance: string, now: Date): Promise<boolean> {
    const result = await this.model
      .updateOne(
        { _id: id, status: 'running', claimedBy: instance },
        { $set: { status: 'queued', runAfter: now, claimedBy: null, claimedUntil: null }, $inc: { attempts: -1 } },
      )
      .exec();
    return result.matchedCount === 1;
  }

  /** Failed for good; `running` only under this instance's claim, or (claim null) a job whose claim has expired. */
  async markFailed(id: Types.ObjectId, error: string, now: Date, claim: { instance: string } | { expiredBefore: Date }): Promise<boolean> {
    const held = 'instance' in claim ? { claimedBy: claim.instance } : { claimedUntil: trusted({ $lt: claim.expiredBefore }) };
    const result = await this.model
      .updateOne(
        { _id: id, status: 'running', ...held },
        { $set: { status: 'failed', error, finishedAt: now, activeKey: finishedKeyFor(id), claimedBy: null, claimedUntil: null } },
      )
      .exec();
    return result.matchedCount === 1;
  }

  /** Running jobs whose claim expired before `now`: their instance stopped without finishing them. */
  interrupted(now: Date, limit: number): Promise<DataExportRecord[]> {
    return this.model
      .find({ status: 'running', claimedUntil: trusted({ $lt: now }) })
      .sort({ claimedUntil: 1 })
      .limit(limit)
      .lean<DataExportRecord[]>()
      .exec();
  }

  /** Queues an interrupted job again (to be run from scratch), if its claim is still expired. */
  async requeueInterrupted(id: Types.ObjectId, now: Date): Promise<boolean> {
    const result = await this.model
      .updateOne(
        { _id: id, status: 'running', claimedUntil: trusted({ $lt: now }) },
        { $set: { status: 'queued', runAfter: now, claimedBy: null, claimedUntil: null } },
      )
      .exec();
    return result.matchedCount === 1;
  }

  /** Ready jobs whose archive expired before `now`. */
  expiredReady(now: Date, limit: number): Promise<DataExportRecord[]> {
    return this.model
      .find({ status: 'ready', expiresAt: trusted({ $lt: now }) })
      .sort({ expiresAt: 1 })
      .limit(limit)
      .lean<DataExportRecord[]>()
      .exec();
  }

  async markExpired(id: Types.ObjectId): Promise<boolean> {
    const result = await this.model.updateOne({ _id: id, status: 'ready' }, { $set: { status: 'expired', archive: null } }).exec();
    return result.matchedCount === 1;
  }

  /** Queued jobs that may start now (a nudge for this instance's worker). */
  countStartable(now: Date): Promise<number> {
    return this.model.countDocuments({ status: 'queued', runAfter: trusted({ $lte: now }) }).exec();
  }

  // The user-data provider's view: jobs about the user and jobs the user requested.

  countForUser(userId: string): Promise<number> {
    return this.model.countDocuments(userFilter(userId)).exec();
  }

  /** In _id order, a batch at a time (the cursor is closed if the caller stops early). */
  cursorForUser(userId: string): AsyncIterable<DataExportRecord> {
    return this.model.find(userFilter(userId)).sort({ _id: 1 }).lean<DataExportRecord[]>().cursor({ batchSize: 100 });
  }

  async deleteOne(id: Types.ObjectId): Promise<number> {
    return (await this.model.deleteOne({ _id: id }).exec()).deletedCount;
  }
}

function userFilter(userId: string) {
  return { $or: [{ subjectUserId: userId }, { 'requestedBy.userId': userId }] };
}
