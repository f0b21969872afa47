import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { HydratedDocument, Types } from 'mongoose';

export const MESSAGE_TYPES = ['user', 'assistant', 'system'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export const MESSAGES_COLLECTION = 'chat_messages';

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

  @Prop({ type: String, required: true })
  content!: string;

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
