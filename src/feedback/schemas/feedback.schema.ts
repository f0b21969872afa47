import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';

export const RATINGS = ['up', 'down'] as const;
export type Rating = (typeof RATINGS)[number];
export const FEEDBACK_COLLECTION = 'chat_message_feedback';

/** A user's rating of one assistant reply: the satisfaction signal for analytics. */
@Schema({ collection: FEEDBACK_COLLECTION, timestamps: true, versionKey: false })
export class MessageFeedback {
  _id!: Types.ObjectId;

  @Prop({ type: Types.ObjectId, required: true })
  messageId!: Types.ObjectId;

  @Prop({ type: Types.ObjectId, required: true })
  conversationId!: Types.ObjectId;

  @Prop({ type: String, required: true })
  userId!: string;

  /** The agent version that wrote the rated reply, so ratings can be compared across versions. */
  @Prop({ type: String, default: null })
  agentKey!: string | null;

  @Prop({ type: Number, default: null })
  agentVersion!: number | null;

  @Prop({ type: String, enum: RATINGS, required: true })
  rating!: Rating;

  @Prop({ type: String, default: null })
  comment!: string | null;

  createdAt!: Date;
  updatedAt!: Date;
}
export const MessageFeedbackSchema = SchemaFactory.createForClass(MessageFeedback);
// 0003: one rating per user per message (changing it updates this one).
MessageFeedbackSchema.index({ messageId: 1, userId: 1 }, { unique: true });
// 0003: a user's feedback (export, erasure).
MessageFeedbackSchema.index({ userId: 1, createdAt: -1 });
// 0010: feedback on the messages of some conversations (retention purges whole conversations).
MessageFeedbackSchema.index({ conversationId: 1 });
// 0014: analytics rollups — ratings given within a day; the dashboard's newest comments.
MessageFeedbackSchema.index({ createdAt: 1 });
