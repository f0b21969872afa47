import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { Types } from 'mongoose';

export const LEGACY_CONVERSATIONS_COLLECTION = 'chat_legacy_conversations';

/**
 * The import's ledger: which of our conversations a legacy conversation became (one, or several
 * parts when it is longer than CHAT_MAX_MESSAGES_PER_CONVERSATION). It names nobody: its id is a
 * keyed hash of the user and the legacy conversation.
 */
@Schema({ collection: LEGACY_CONVERSATIONS_COLLECTION, versionKey: false, minimize: false })
export class LegacyConversation {
  /** Keyed hash of the legacy user id and conversation key. */
  @Prop({ type: String, required: true })
  _id!: string;

  /** Our conversations, in order: the first holds the legacy conversation's start, each next one its continuation. */
  @Prop({ type: [Types.ObjectId], default: [] })
  parts!: Types.ObjectId[];

  /** The next part while it is being created (recorded first, so an interrupted run creates it under the same id). */
  @Prop({ type: Types.ObjectId, default: null })
  pending!: Types.ObjectId | null;

  @Prop({ type: Date, required: true })
  createdAt!: Date;
}

export const LegacyConversationSchema = SchemaFactory.createForClass(LegacyConversation);
