import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { HydratedDocument, Types } from 'mongoose';

export const MESSAGE_TYPES = ['user', 'assistant', 'system'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export const MESSAGES_COLLECTION = 'chat_messages';

/** User and system messages are born completed; assistant replies go pending → completed | failed. */
export const MESSAGE_STATUSES = ['pending', 'completed', 'failed'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

@Schema({ _id: false, versionKey: false })
export class MessageError {
  @Prop({ type: String, required: true })
  code!: string;

  /** Safe to show to the user. */
  @Prop({ type: String, required: true })
  message!: string;
}
const MessageErrorSchema = SchemaFactory.createForClass(MessageError);

/** Where an assistant reply came from, so any answer can be traced to the exact prompt behind it. */
@Schema({ _id: false, versionKey: false })
export class GenerationInfo {
  @Prop({ type: String, required: true })
  agentKey!: string;

  @Prop({ type: Number, required: true })
  agentVersion!: number;

  @Prop({ type: String, required: true })
  provider!: string;

  @Prop({ type: String, default: null })
  model!: string | null;

  @Prop({ type: String, default: null })
  finishReason!: string | null;

  /** Milliseconds from the start of generation to the first streamed text. */
  @Prop({ type: Number, default: null })
  timeToFirstToken!: number | null;

  /** 1 for the first answer, +1 for each regeneration. */
  @Prop({ type: Number, default: 1 })
  attempt!: number;
}
const GenerationInfoSchema = SchemaFactory.createForClass(GenerationInfo);

@Schema({ _id: false, versionKey: false })
export class TokenUsage {
  @Prop({ type: Number, required: true, min: 0 })
  prompt!: number;

  @Prop({ type: Number, required: true, min: 0 })
  completion!: number;

  @Prop({ type: Number, required: true, min: 0 })
  total!: number;
}
const TokenUsageSchema = SchemaFactory.createForClass(TokenUsage);

@Schema({ collection: MESSAGES_COLLECTION, timestamps: true, versionKey: false, minimize: false })
export class Message {
  _id!: Types.ObjectId;

  @Prop({ type: Types.ObjectId, required: true })
  conversationId!: Types.ObjectId;

  /** Owner of the conversation, also on assistant and system messages, so a user's data is findable here alone. */
  @Prop({ type: String, required: true })
  userId!: string;

  @Prop({ type: String, enum: MESSAGE_TYPES, required: true })
  type!: MessageType;

  /** Empty while an assistant reply is pending. */
  @Prop({ type: String, default: '' })
  content!: string;

  /** Tokens in `content`, counted once when it is written, so building a prompt never re-tokenizes history. */
  @Prop({ type: Number, default: 0, min: 0 })
  tokens!: number;

  @Prop({ type: String, enum: MESSAGE_STATUSES, default: 'completed' })
  status!: MessageStatus;

  @Prop({ type: MessageErrorSchema, default: null })
  error!: MessageError | null;

  @Prop({ type: GenerationInfoSchema, default: undefined })
  generation?: GenerationInfo;

  @Prop({ type: Object, default: () => ({}) })
  metadata!: Record<string, unknown>;

  /** When the message was written; history is ordered by it. */
  @Prop({ type: Date, required: true })
  timestamp!: Date;

  /** Per-conversation sequence number, strictly increasing in write order (missed-message recovery). */
  @Prop({ type: Number, required: true, min: 1 })
  seq!: number;

  @Prop({ type: TokenUsageSchema, default: undefined })
  tokensUsed?: TokenUsage;

  /** Normalised, stemmed terms of `content` (src/common/text/search-terms.ts), kept on every write; not read by default. */
  @Prop({ type: [String], default: undefined, select: false })
  searchTerms?: string[];

  /** Version of the term format the terms were made with (SEARCH_TERMS_VERSION); older documents are re-indexed by a migration. */
  @Prop({ type: Number, default: undefined, select: false })
  searchTermsVersion?: number;

  /** Files attached to this message (kept by the attachments module). */
  @Prop({ type: Number, default: 0, min: 0 })
  attachmentCount!: number;

  /**
   * A message imported from the legacy store: a keyed hash of its user, legacy conversation and
   * content (src/legacy-import), so importing the same dump again adds nothing. Not read by default.
   */
  @Prop({ type: String, default: undefined, select: false })
  legacyKey?: string;

  /** Milliseconds the server spent producing this message (assistant replies). */
  @Prop({ type: Number, default: undefined, min: 0 })
  processingTime?: number;

  createdAt!: Date;
  updatedAt!: Date;
}

export type MessageDocument = HydratedDocument<Message>;
export const MessageSchema = SchemaFactory.createForClass(Message);

// Created by migrations/ (autoIndex is off); each serves the query named.
// 0001: GET /conversations/:id/messages — a conversation's history in time order, both directions.
MessageSchema.index({ conversationId: 1, timestamp: 1 });
// 0001: a user's messages newest first (user data export, erasure, analytics by user).
MessageSchema.index({ userId: 1, timestamp: -1 });
// 0001: uniqueness of seq within a conversation; replay of missed messages after a given seq.
MessageSchema.index({ conversationId: 1, seq: 1 }, { unique: true });
// 0003: the sweep that fails replies left pending by a crashed instance.
MessageSchema.index({ status: 1, updatedAt: 1 });
// 0005: search — a user's messages containing a term, newest first.
MessageSchema.index({ userId: 1, searchTerms: 1, timestamp: -1 });
// 0005: incremental export for analytics — everything changed since a point in time.
MessageSchema.index({ updatedAt: 1, _id: 1 });
// 0014: analytics rollups — every message written within a day, in time order.
MessageSchema.index({ timestamp: 1 });
// 0015: legacy import — one message per legacy record (imported messages only).
MessageSchema.index({ legacyKey: 1 }, { unique: true, sparse: true });
