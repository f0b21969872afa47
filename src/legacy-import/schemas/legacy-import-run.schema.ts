import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';

export const LEGACY_IMPORT_RUNS_COLLECTION = 'chat_legacy_import_runs';
export const LEGACY_IMPORT_STATES = ['queued', 'running', 'succeeded', 'failed'] as const;
export type LegacyImportState = (typeof LEGACY_IMPORT_STATES)[number];

/**
 * An import of a legacy dump uploaded to `POST /chat/admin/import/legacy`: the dump waits in
 * DATA_DIR until the run is over, then is removed. It names nobody: who asked is in the audit log.
 */
@Schema({ collection: LEGACY_IMPORT_RUNS_COLLECTION, versionKey: false, minimize: false })
export class LegacyImportRun {
  _id!: Types.ObjectId;

  @Prop({ type: String, enum: LEGACY_IMPORT_STATES, required: true })
  state!: LegacyImportState;

  @Prop({ type: Boolean, required: true })
  dryRun!: boolean;

  @Prop({ type: String, required: true })
  defaultRole!: string;

  /** Bytes of the uploaded dump. */
  @Prop({ type: Number, required: true })
  bytes!: number;

  /** The host whose DATA_DIR keeps the dump and the report: only its instances run and clean it up. */
  @Prop({ type: String, required: true })
  storedOn!: string;

  /** When it was uploaded: the time of messages that have none. */
  @Prop({ type: Date, required: true })
  dumpedAt!: Date;

  /** Counts so far, then final (LegacyImportCounts). */
  @Prop({ type: Object, default: null })
  counts!: Record<string, number> | null;

  @Prop({ type: [String], default: [] })
  shapes!: string[];

  /** The dump was read to its end. */
  @Prop({ type: Boolean, default: null })
  complete!: boolean | null;

  @Prop({ type: String, default: null })
  error!: string | null;

  @Prop({ type: Number, default: 0 })
  attempts!: number;

  /** The instance running it, and until when its claim holds unless renewed (a stopped instance's run is resumed after). */
  @Prop({ type: String, default: null })
  claimedBy!: string | null;

  @Prop({ type: Date, default: null })
  claimedUntil!: Date | null;

  @Prop({ type: Date, required: true })
  createdAt!: Date;

  @Prop({ type: Date, default: null })
  startedAt!: Date | null;

  @Prop({ type: Date, default: null })
  finishedAt!: Date | null;
}

export const LegacyImportRunSchema = SchemaFactory.createForClass(LegacyImportRun);

// 0015: the legacy-imports job — runs to start or resume (their claim expired).
LegacyImportRunSchema.index({ state: 1, claimedUntil: 1 });
