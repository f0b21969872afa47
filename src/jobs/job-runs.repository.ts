import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import mongoose, { Model, Types } from 'mongoose';
import type { JobCounts, JobTrigger } from './job.js';
import { JobRun } from './schemas/job-run.schema.js';

export type JobRunRecord = JobRun;

const { trusted } = mongoose;

/** The only owner of the chat_job_runs Model (system data: no owner id). */
@Injectable()
export class JobRunsRepository {
  constructor(@InjectModel(JobRun.name) private readonly model: Model<JobRun>) {}

  async start(run: { job: string; instance: string; trigger: JobTrigger; startedAt: Date }): Promise<JobRunRecord> {
    const created = await new this.model({ ...run, status: 'running' }).save();
    return created.toObject<JobRunRecord>();
  }

  async progress(id: Types.ObjectId, message: string, counts: JobCounts | undefined): Promise<void> {
    await this.model.updateOne({ _id: id, status: 'running' }, { $set: { progress: message, ...(counts ? { counts } : {}) } }).exec();
  }

  finish(
    id: Types.ObjectId,
    outcome: { status: 'succeeded' | 'failed'; finishedAt: Date; counts: JobCounts; error: string | null; checkpoint: Date | null },
  ): Promise<JobRunRecord | null> {
    return this.model.findOneAndUpdate({ _id: id }, { $set: outcome }, { returnDocument: 'after' }).lean<JobRunRecord>().exec();
  }

  lastSucceeded(job: string): Promise<JobRunRecord | null> {
    return this.model.findOne({ job, status: 'succeeded' }).sort({ startedAt: -1 }).lean<JobRunRecord>().exec();
  }

  /** Runs of the job still `running` other than `current`: their instance died or lost the lease (the caller holds it now). */
  async markInterrupted(job: string, current: Types.ObjectId, now: Date): Promise<number> {
    const result = await this.model
      .updateMany(
        { job, status: 'running', _id: trusted({ $ne: current }) },
        {
          $set: { status: 'failed', finishedAt: now, error: 'Interrupted: its instance stopped or lost the lease before the run finished' },
        },
      )
      .exec();
    return result.modifiedCount;
  }

  /** The job's runs, newest first. */
  recent(job: string, limit: number): Promise<JobRunRecord[]> {
    return this.model.find({ job }).sort({ startedAt: -1 }).limit(limit).lean<JobRunRecord[]>().exec();
  }

  /** Forgets the job's runs started before `before`, except `keep` (the last successful run, whose checkpoint the next run reads). */
  async prune(job: string, before: Date, keep: Types.ObjectId): Promise<void> {
    await this.model.deleteMany({ job, startedAt: trusted({ $lt: before }), _id: trusted({ $ne: keep }) }).exec();
  }
}
