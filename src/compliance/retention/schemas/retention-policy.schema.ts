import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';

export const RETENTION_POLICIES_COLLECTION = 'chat_retention_policies';
/** What an override applies to: the conversation's WMS role, or its agent. */
export const RETENTION_SCOPES = ['role', 'agent'] as const;
export type RetentionScope = (typeof RETENTION_SCOPES)[number];
/** What happens to a conversation past its period: removed with everything under it, or kept with its owner and personal data replaced. */
export const RETENTION_ACTIONS = ['delete', 'anonymise'] as const;
export type RetentionAction = (typeof RETENTION_ACTIONS)[number];

/** The admin who last set an override, as their token named them. */
export interface PolicyEditor {
  userId: string;
  roles: string[];
}

/** An admin's override of the default retention (CHAT_RETENTION_DAYS) for one role or one agent. */
@Schema({ collection: RETENTION_POLICIES_COLLECTION, timestamps: true, versionKey: false, minimize: false })
export class RetentionPolicy {
  _id!: Types.ObjectId;

  @Prop({ type: String, enum: RETENTION_SCOPES, required: true })
  scope!: RetentionScope;

  /** The role name or agent key. */
  @Prop({ type: String, required: true })
  key!: string;

  @Prop({ type: Number, required: true, min: 1 })
  days!: number;

  @Prop({ type: String, enum: RETENTION_ACTIONS, required: true })
  action!: RetentionAction;

  @Prop({ type: Object, required: true })
  updatedBy!: PolicyEditor;

  createdAt!: Date;
  updatedAt!: Date;
}

export const RetentionPolicySchema = SchemaFactory.createForClass(RetentionPolicy);

// Index definitions live with the schema for reading; migrations/ creates them (autoIndex is off).
// One override per role or agent (a PUT replaces it).
RetentionPolicySchema.index({ scope: 1, key: 1 }, { unique: true });
// The admins' ids in overrides (their export, erasure and pseudonymisation).
RetentionPolicySchema.index({ 'updatedBy.userId': 1 });
