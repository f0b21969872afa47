import { Prop, Schema, SchemaFactory, raw } from '@nestjs/mongoose';
import { Types } from 'mongoose';

export const ERASURES_COLLECTION = 'chat_erasures';

/** `erase` removes the user everywhere; `anonymise` replaces them by a pseudonym and masks their texts. */
export const ERASURE_MODES = ['erase', 'anonymise'] as const;
export type ErasureMode = (typeof ERASURE_MODES)[number];

/**
 * `running` while an instance works on it (its claim is renewed); `pending` while it waits for
 * the next attempt after one failed; `done`; `failed` once the attempts are used up. A running
 * record whose claim expired was left by a stopped instance: the `erasures` job resumes it.
 */
export const ERASURE_STATES = ['pending', 'running', 'done', 'failed'] as const;
export type ErasureState = (typeof ERASURE_STATES)[number];

/**
 * `activeKey` while the operation is pending or running: derived from the subject's keyed hash,
 * so the unique index on it lets one erasure or anonymisation per user be in progress at a time
 * (race-free, on any store). Once it has finished it holds the record's own id.
 */
export function activeErasureKey(subjectHash: string): string {
  return `active:${subjectHash}`;
}

export function finishedErasureKey(id: Types.ObjectId): string {
  return `done:${id.toHexString()}`;
}

/** What one provider removed or changed in one store. */
@Schema({ _id: false, versionKey: false })
export class ErasureCount {
  @Prop({ type: String, required: true })
  provider!: string;

  @Prop({ type: String, required: true })
  store!: string;

  @Prop({ type: Number, required: true })
  count!: number;
}
const ErasureCountSchema = SchemaFactory.createForClass(ErasureCount);

export interface ErasureRequester {
  /** Unset when a self-request is done: it is the subject's id. */
  userId?: string;
  roles: string[];
  /** The subject asked themselves. */
  self: boolean;
}

/**
 * One erasure or anonymisation of a user (GDPR Art. 17): its state, the providers done so far
 * with their counts (so a crash mid-way resumes with the rest), and, once done, the receipt.
 * The subject's plain id, pseudonym and names are kept only while it is in progress; afterwards
 * the record names the subject by the audit log's keyed hash of the id alone.
 */
@Schema({ collection: ERASURES_COLLECTION, versionKey: false, minimize: false })
export class Erasure {
  _id!: Types.ObjectId;

  /** AuditLog.userIdHash of the subject's id: finds the audit entries about them, never the id itself. */
  @Prop({ type: String, required: true })
  subjectHash!: string;

  /** The subject's id, while in progress (unset when done). */
  @Prop({ type: String })
  subjectUserId?: string;

  @Prop({ type: String, enum: ERASURE_MODES, required: true })
  mode!: ErasureMode;

  /** anonymise: the pseudonym that replaces the id, kept while in progress so a resumed run uses the same one. */
  @Prop({ type: String })
  pseudonym?: string;

  /** anonymise: the names masked in texts, kept while in progress for the same reason (the service stores no names otherwise). */
  @Prop({ type: [String], default: undefined })
  maskNames?: string[];

  @Prop(raw({ userId: { type: String }, roles: { type: [String], default: [] }, self: { type: Boolean, required: true } }))
  requestedBy!: ErasureRequester;

  /** Why (an admin's ticket reference or legal basis), with personal data masked. */
  @Prop({ type: String, default: null })
  reason!: string | null;

  @Prop({ type: String, enum: ERASURE_STATES, required: true })
  state!: ErasureState;

  /** See activeErasureKey. */
  @Prop({ type: String, required: true })
  activeKey!: string;

  /** The providers (UserDataProvider.name) that have finished, in order. */
  @Prop({ type: [String], default: [] })
  providersDone!: string[];

  @Prop({ type: [ErasureCountSchema], default: [] })
  counts!: ErasureCount[];

  /** Runs started (a resumed or retried run counts); it fails after MAX_ERASURE_ATTEMPTS. */
  @Prop({ type: Number, default: 0 })
  attempts!: number;

  /** The audit entry (`user.erased` or `user.anonymised`) is recorded. */
  @Prop({ type: Boolean, default: false })
  audited!: boolean;

  /** Why the last attempt failed. */
  @Prop({ type: String, default: null })
  error!: string | null;

  @Prop({ type: Date, required: true })
  startedAt!: Date;

  @Prop({ type: Date, default: null })
  finishedAt!: Date | null;

  /** The runner (instance and request) working on it, and until when its claim holds unless renewed. */
  @Prop({ type: String, default: null })
  claimedBy!: string | null;

  @Prop({ type: Date, default: null })
  claimedUntil!: Date | null;
}

export const ErasureSchema = SchemaFactory.createForClass(Erasure);

// Created by the erasures migration (autoIndex is off); each serves the query named.
// one erasure or anonymisation per subject in progress
ErasureSchema.index({ activeKey: 1 }, { unique: true });
// the erasures job: records in progress whose claim expired
ErasureSchema.index({ state: 1, claimedUntil: 1 });
// the user-data provider: records about a user, and records a user requested
ErasureSchema.index({ subjectUserId: 1 });
ErasureSchema.index({ 'requestedBy.userId': 1 });
