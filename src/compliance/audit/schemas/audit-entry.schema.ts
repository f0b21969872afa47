import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';
import type { StoredAuditActor, StoredAuditSubject } from '../audit-chain.js';
import { AUDIT_ACTIONS, type AuditAction } from '../audit-actions.js';

export const AUDIT_LOG_COLLECTION = 'chat_audit_log';

/**
 * One entry of the audit log: append-only, chained by `prevHash` → `hash` in `seq` order (see
 * audit-chain.ts). Nothing updates an entry except erasure, which removes the plain user ids
 * (`actor.userId`, `subject.userId`) and keeps their keyed hashes; retention removes the oldest
 * entries from the start of the chain.
 */
@Schema({ collection: AUDIT_LOG_COLLECTION, versionKey: false, minimize: false })
export class AuditEntry {
  _id!: Types.ObjectId;

  /** The entry's place in the one chain of all instances: 1, 2, 3, ... without gaps (unique). */
  @Prop({ type: Number, required: true })
  seq!: number;

  @Prop({ type: Date, required: true })
  at!: Date;

  @Prop({ type: String, enum: AUDIT_ACTIONS, required: true })
  action!: AuditAction;

  @Prop({ type: Object, required: true })
  actor!: StoredAuditActor;

  @Prop({ type: Object, default: null })
  subject!: StoredAuditSubject | null;

  @Prop({ type: Object, default: null })
  target!: { type: string; id: string } | null;

  /** Counts, reasons, ids of records: never personal data. */
  @Prop({ type: Object, default: () => ({}) })
  details!: Record<string, unknown>;

  @Prop({ type: String, default: null })
  prevHash!: string | null;

  @Prop({ type: String, required: true })
  hash!: string;
}

export const AuditEntrySchema = SchemaFactory.createForClass(AuditEntry);

// Created by migrations/0009 (autoIndex is off); each serves the query named.
// The chain: its order, its last entry (appending), exact lookups by seq; unique, so two instances cannot append the same seq.
AuditEntrySchema.index({ seq: 1 }, { unique: true });
// The admin listing filtered by action, newest first; verification's lookup of audit.pruned entries.
AuditEntrySchema.index({ action: 1, seq: -1 });
// The admin listing filtered by actor; a user's entries (their export, erasure).
AuditEntrySchema.index({ 'actor.userIdHash': 1, seq: -1 });
// The admin listing filtered by subject; a user's entries (their export, erasure).
AuditEntrySchema.index({ 'subject.userIdHash': 1, seq: -1 });
