import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';

export const DATA_EXPORTS_COLLECTION = 'chat_data_exports';

export const DATA_EXPORT_STATUSES = ['queued', 'running', 'ready', 'failed', 'expired'] as const;
export type DataExportStatus = (typeof DATA_EXPORT_STATUSES)[number];

/**
 * `activeKey` while a job is queued or running: the subject's id, so the unique index on it lets
 * one export per user be active at a time (race-free, on any store). Once the job has finished it
 * holds the job's own id, freeing the subject for the next export.
 */
export function activeKeyFor(subjectUserId: string): string {
  return `active:${subjectUserId}`;
}

export function finishedKeyFor(exportId: Types.ObjectId): string {
  return `done:${exportId.toHexString()}`;
}

@Schema({ _id: false, versionKey: false })
export class DataExportRequester {
  @Prop({ type: String, required: true })
  userId!: string;

  /** The roles the requester's token carried (an admin exporting someone else's data shows here). */
  @Prop({ type: [String], default: [] })
  roles!: string[];
}
const DataExportRequesterSchema = SchemaFactory.createForClass(DataExportRequester);

@Schema({ _id: false, versionKey: false })
export class DataExportProgress {
  /** Archive entries written so far. */
  @Prop({ type: Number, default: 0 })
  parts!: number;

  @Prop({ type: Number, default: 0 })
  records!: number;

  /** Uncompressed bytes written into the archive so far. */
  @Prop({ type: Number, default: 0 })
  bytes!: number;

  /** The entry being written (`json/messages.jsonl`). */
  @Prop({ type: String, default: null })
  currentPart!: string | null;
}
const DataExportProgressSchema = SchemaFactory.createForClass(DataExportProgress);

@Schema({ _id: false, versionKey: false })
export class DataExportArchive {
  /** The storage driver it was written to (ATTACHMENT_STORAGE at the time). */
  @Prop({ type: String, required: true })
  driver!: string;

  /** Generated from ids only: `<owner>/<export id>.zip` (see ArchiveOwners); where the archive is read and removed from. */
  @Prop({ type: String, required: true })
  key!: string;

  @Prop({ type: Number, required: true })
  size!: number;

  /** SHA-256 of the whole zip, computed while it was written. */
  @Prop({ type: String, required: true })
  sha256!: string;
}
const DataExportArchiveSchema = SchemaFactory.createForClass(DataExportArchive);

/** An asynchronous GDPR export of one user's data (Art. 15/20): its state, progress and archive. */
@Schema({ collection: DATA_EXPORTS_COLLECTION, versionKey: false, minimize: false })
export class DataExport {
  _id!: Types.ObjectId;

  /** Whose data the archive holds. */
  @Prop({ type: String, required: true })
  subjectUserId!: string;

  @Prop({ type: DataExportRequesterSchema, required: true })
  requestedBy!: DataExportRequester;

  @Prop({ type: String, enum: DATA_EXPORT_STATUSES, required: true })
  status!: DataExportStatus;

  /** See activeKeyFor. */
  @Prop({ type: String, required: true })
  activeKey!: string;

  @Prop({ type: DataExportProgressSchema, default: () => ({}) })
  progress!: DataExportProgress;

  /** Runs started (a run interrupted by a crash counts); the job fails after MAX_ATTEMPTS. */
  @Prop({ type: Number, default: 0 })
  attempts!: number;

  /** Why the last run failed. */
  @Prop({ type: String, default: null })
  error!: string | null;

  @Prop({ type: DataExportArchiveSchema, default: null })
  archive!: DataExportArchive | null;

  /** A queued job is not started before this (a failed attempt waits a little before the next). */
  @Prop({ type: Date, required: true })
  runAfter!: Date;

  @Prop({ type: Date, required: true })
  createdAt!: Date;

  @Prop({ type: Date, default: null })
  startedAt!: Date | null;

  @Prop({ type: Date, default: null })
  finishedAt!: Date | null;

  /** When the archive stops being downloadable (finishedAt + CHAT_DATA_EXPORT_TTL_HOURS). */
  @Prop({ type: Date, default: null })
  expiresAt!: Date | null;

  /** The instance running it, and until when its claim holds unless renewed; an expired claim means the run was interrupted. */
  @Prop({ type: String, default: null })
  claimedBy!: string | null;

  @Prop({ type: Date, default: null })
  claimedUntil!: Date | null;
}

export const DataExportSchema = SchemaFactory.createForClass(DataExport);

// Created by the data-exports migration (autoIndex is off); each serves the query named.
// one active export per subject user
DataExportSchema.index({ activeKey: 1 }, { unique: true });
// the worker: the next queued job
DataExportSchema.index({ status: 1, runAfter: 1 });
// the scheduled job: running jobs whose claim expired
DataExportSchema.index({ status: 1, claimedUntil: 1 });
// the scheduled job: ready archives past their expiry
DataExportSchema.index({ status: 1, expiresAt: 1 });
// the user-data provider: jobs about a user, and jobs a user requested
DataExportSchema.index({ subjectUserId: 1 });
DataExportSchema.index({ 'requestedBy.userId': 1 });
