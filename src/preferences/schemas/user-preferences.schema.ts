import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';

export const RESPONSE_STYLES = ['concise', 'detailed'] as const;
export type ResponseStyle = (typeof RESPONSE_STYLES)[number];
export const PREFERENCES_COLLECTION = 'chat_user_preferences';
export const MAX_FACTS = 50;

@Schema({ _id: false, versionKey: false })
export class LearnedFact {
  @Prop({ type: String, required: true })
  id!: string;

  @Prop({ type: String, required: true })
  text!: string;

  @Prop({ type: Date, required: true })
  createdAt!: Date;
}
const LearnedFactSchema = SchemaFactory.createForClass(LearnedFact);

@Schema({ _id: false, versionKey: false })
export class NotificationSettings {
  /** Notify on the user's channel when a reply completes in a conversation the client does not follow. */
  @Prop({ type: Boolean, default: true })
  replyCompleted!: boolean;
}
const NotificationSettingsSchema = SchemaFactory.createForClass(NotificationSettings);

/** One document per user: settings and the facts the user agreed to keep, used in every conversation. */
@Schema({ collection: PREFERENCES_COLLECTION, timestamps: true, versionKey: false })
export class UserPreferences {
  _id!: Types.ObjectId;

  @Prop({ type: String, required: true })
  userId!: string;

  /** BCP 47 language tag the assistant should answer in. */
  @Prop({ type: String, default: null })
  language!: string | null;

  @Prop({ type: String, enum: [...RESPONSE_STYLES, null], default: null })
  responseStyle!: ResponseStyle | null;

  @Prop({ type: String, default: null })
  defaultAgentKey!: string | null;

  @Prop({ type: NotificationSettingsSchema, default: () => ({ replyCompleted: true }) })
  notifications!: NotificationSettings;

  @Prop({ type: [LearnedFactSchema], default: [] })
  facts!: LearnedFact[];

  createdAt!: Date;
  updatedAt!: Date;
}
export const UserPreferencesSchema = SchemaFactory.createForClass(UserPreferences);
// 0003: one document per user.
UserPreferencesSchema.index({ userId: 1 }, { unique: true });
