import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import { LegacyImportRun } from './schemas/legacy-import-run.schema.js';

export type LegacyImportRunRecord = LegacyImportRun;

const { trusted } = mongoose;

/** The only owner of the chat_legacy_import_runs Model. */
@Injectable()
export class LegacyImportRunsRepository {
  constructor(@InjectModel(LegacyImportRun.name) private readonly model: Model<LegacyImportRun>) {}

  async insertQueued(run: {
    _id: Types.ObjectId;
    dryRun: boolean;
    defaultRole: string;
    bytes: number;
    dumpedAt: Date;
    storedOn: string;
  }): Promise<LegacyImportRunRecord> {
    const created = await new this.model({ ...run, state: 'queued', createdAt: new Date() }).save();
    return created.toObject<LegacyImportRunRecord>();
  }

  find(id: Types.ObjectId): Promise<LegacyImportRunRecord | null> {
    return this.model.findById(id).lean<LegacyImportRunRecord>().exec();
  }

  /** Takes the run when nobody's claim holds (queued, or its instance stopped); counts an attempt. */
  async claim(id: Types.ObjectId, by: string, until: Date, now: Date): Promise<LegacyImportRunRecord | null> {
    const claimed = await this.model
      .findOneAndUpdate(
        {
          _id: id,
          state: trusted({ $in: ['queued', 'running'] }),
          $or: [{ claimedUntil: null }, { claimedUntil: trusted({ $lte: now }) }],
        },
        { $set: { state: 'running', claimedBy: by, claimedUntil: until }, $inc: { attempts: 1 } },
        { returnDocument: 'after' },
      )
      .lean<LegacyImportRunRecord>()
      .exec();
    if (claimed && !claimed.startedAt) {
      await this.model.updateOne({ _id: id, startedAt: null }, { $set: { startedAt: now } }).exec();
      claimed.startedAt = now;
    }
    return claimed;
  }

  /** Stores progress and extends the claim; false when the claim was lost. */
  async progress(id: Types.ObjectId, by: string, until: Date, counts: Record<string, number>): Promise<boolean> {
    const updated = await this.model
      .updateOne({ _id: id, claimedBy: by, state: 'running' }, { $set: { claimedUntil: until, counts } })
      .exec();
    return updated.matchedCount === 1;
  }

  async finish(
    id: Types.ObjectId,
    by: string,
    outcome: {
      state: 'succeeded' | 'failed';
      counts: Record<string, number> | null;
      shapes: string[];
      complete: boolean | null;
      error: string | null;
    },
  ): Promise<void> {
    await this.model
      .updateOne({ _id: id, claimedBy: by }, { $set: { ...outcome, finishedAt: new Date(), claimedBy: null, claimedUntil: null } })
      .exec();
  }

  /**
   * Lets the run go (shutdown, or another import holds the lease): it is resumed later. A run
   * that only waited for its turn gets its attempt back.
   */
  async release(id: Types.ObjectId, by: string, options: { refundAttempt: boolean }): Promise<void> {
    await this.model
      .updateOne(
        { _id: id, claimedBy: by, state: 'running' },
        { $set: { claimedUntil: new Date(0) }, ...(options.refundAttempt && { $inc: { attempts: -1 } }) },
      )
      .exec();
  }

  /** Runs of files kept on `storedOn` waiting to start or resume: queued or running, with no claim holding. */
  waiting(storedOn: string, now: Date, limit: number): Promise<Pick<LegacyImportRunRecord, '_id' | 'attempts'>[]> {
    return this.model
      .find(
        {
          storedOn,
          state: trusted({ $in: ['queued', 'running'] }),
          $or: [{ claimedUntil: null }, { claimedUntil: trusted({ $lte: now }) }],
        },
        { attempts: 1 },
      )
      .limit(limit)
      .lean<Pick<LegacyImportRunRecord, '_id' | 'attempts'>[]>()
      .exec();
  }

  async failUnclaimed(id: Types.ObjectId, error: string): Promise<boolean> {
    const updated = await this.model
      .updateOne(
        { _id: id, state: trusted({ $in: ['queued', 'running'] }) },
        { $set: { state: 'failed', error, finishedAt: new Date(), claimedBy: null, claimedUntil: null } },
      )
      .exec();
    return updated.modifiedCount === 1;
  }

  async delete(id: Types.ObjectId): Promise<void> {
    await this.model.deleteOne({ _id: id }).exec();
  }

  /** Runs of files kept on `storedOn` finished before `before`: they and their files are removed. */
  finishedBefore(storedOn: string, before: Date, limit: number): Promise<Pick<LegacyImportRunRecord, '_id'>[]> {
    return this.model
      .find({ storedOn, state: trusted({ $in: ['succeeded', 'failed'] }), finishedAt: trusted({ $lt: before }) }, { _id: 1 })
      .limit(limit)
      .lean<Pick<LegacyImportRunRecord, '_id'>[]>()
      .exec();
  }
}
