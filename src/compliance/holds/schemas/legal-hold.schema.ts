import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';

export const LEGAL_HOLDS_COLLECTION = 'chat_legal_holds';
export const LEGAL_HOLD_TARGETS = ['user', 'conversation'] as const;
export type LegalHoldTarget = (typeof LEGAL_HOLD_TARGETS)[number];

/** The admin who placed or released a hold, as their token named them. */
export interface HoldActor {
  userId: string;
  roles: string[];
}

/**
 * A legal hold: while `releasedAt` is null, nothing of the user or conversation it names is
 * purged, erased or anonymised. Released holds stay, as the record that the hold existed.
 */
@Schema({ collection: LEGAL_HOLDS_COLLECTION, versionKey: false, minimize: false })
export class LegalHold {
  _id!: Types.ObjectId;

  @Prop({ type: String, enum: LEGAL_HOLD_TARGETS, required: true })
  target!: LegalHoldTarget;

  /** A user id (target `user`) or a conversation id as 24 hex digits (target `conversation`). */
  @Prop({ type: String, required: true })
  targetId!: string;

  @Prop({ type: String, required: true })
  reason!: string;

  @Prop({ type: Object, required: true })
  placedBy!: HoldActor;

  @Prop({ type: Date, required: true })
  placedAt!: Date;

  /**
   * Target `conversation`: its owner when the hold was placed, so holding a conversation also
   * blocks erasing or anonymising its owner. Null for users, and for a conversation that was not
   * found (it may come back from a backup).
   */
  @Prop({ type: String, default: null })
  conversationOwnerId!: string | null;

  @Prop({ type: Date, default: null })
  releasedAt!: Date | null;

  @Prop({ type: Object, default: null })
  releasedBy!: HoldActor | null;

  @Prop({ type: String, default: null })
  releaseReason!: string | null;
}

export const LegalHoldSchema = SchemaFactory.createForClass(LegalHold);

// Index definitions live with the schema for reading; migrations/ creates them (autoIndex is off).
// Is this user or conversation held (every purge and erasure asks), and the listing filtered by target, newest first.
LegalHoldSchema.index({ target: 1, targetId: 1, placedAt: -1, _id: -1 });
// The listing of every hold (optionally active only), newest first.
LegalHoldSchema.index({ placedAt: -1, _id: -1 });
// Is any conversation of this user held (erasure and anonymisation ask); the owner's export.
LegalHoldSchema.index({ conversationOwnerId: 1 });
// The admins' ids in holds (their export, erasure and pseudonymisation).
LegalHoldSchema.index({ 'placedBy.userId': 1 });
LegalHoldSchema.index({ 'releasedBy.userId': 1 });
