import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { HydratedDocument, Types } from 'mongoose';
import type { JobCounts, JobRunStatus, JobTrigger } from '../job.js';

export const JOB_RUNS_COLLECTION = 'chat_job_runs';
const STORED_STATUSES: JobRunStatus[] = ['running', 'succeeded', 'failed'];
const TRIGGERS: JobTrigger[] = ['boot', 'schedule', 'manual'];

/** One run of a scheduled job on one instance (skipped runs are not stored). */
@Schema({ collection: JOB_RUNS_COLLECTION, versionKey: false, minimize: false })
export class JobRun {
  _id!: Types.ObjectId;

  @Prop({ type: String, required: true })
  job!: string;

  /** The instance that ran it (host:pid:random), also the owner of its lease. */
  @Prop({ type: String, required: true })
  instance!: string;

  @Prop({ type: String, enum: TRIGGERS, required: true })
  trigger!: JobTrigger;

  @Prop({ type: String, enum: STORED_STATUSES, required: true })
  status!: Exclude<JobRunStatus, 'skipped'>;

  @Prop({ type: Date, required: true })
  startedAt!: Date;

  @Prop({ type: Date, default: null })
  finishedAt!: Date | null;

  /** The job's counts: so far while running, final once finished. */
  @Prop({ type: Object, default: () => ({}) })
  counts!: JobCounts;

  /** The last progress message. */
  @Prop({ type: String, default: null })
  progress!: string | null;

  /** Why the run failed. */
  @Prop({ type: String, default: null })
  error!: string | null;

  /** Where a successful run got to; the next run starts from the last successful one's. */
  @Prop({ type: Date, default: null })
  checkpoint!: Date | null;
}

export type JobRunDocument = HydratedDocument<JobRun>;
export const JobRunSchema = SchemaFactory.createForClass(JobRun);

// Created by migrations/ (autoIndex is off); each serves the query named.
// 0008: a job's last successful run (its checkpoint), and its runs left `running` by a crashed instance.
JobRunSchema.index({ job: 1, status: 1, startedAt: -1 });
// 0008: a job's runs, newest first (looking at runs; pruning old ones).
JobRunSchema.index({ job: 1, startedAt: -1 });
