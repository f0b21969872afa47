import { Prop, Schema, SchemaFactory } from '@nestjs/mongoose';
import { HydratedDocument, Types } from 'mongoose';

export const CONVERSATION_STATUSES = ['active', 'archived', 'deleted'] as const;
export type ConversationStatus = (typeof CONVERSATION_STATUSES)[number];

export const CONVERSATIONS_COLLECTION = 'chat_conversations';

export interface ConversationSummary {
  text: string;
  throughSeq: number;
  updatedAt: Date;
}

@Schema({ collection: CONVERSATIONS_COLLECTION, timestamps: true, versionKey: false, minimize: false })
export class Conversation {
  _id!: Types.ObjectId;

  /** Owner; every query on this collection filters on it. */
  @Prop({ type: String, required: true })
  userId!: string;

  /** Null until the user names it (a later feature titles it from the first exchange). */
  @Prop({ type: String, default: null })
  title!: string | null;

  /** Normalised, stemmed terms of `title` (src/common/text/search-terms.ts); not read by default. */
  @Prop({ type: [String], default: undefined, select: false })
  titleTerms?: string[];

  /** Version of the term format the terms were made with (SEARCH_TERMS_VERSION); older documents are re-indexed by a migration. */
  @Prop({ type: Number, default: undefined, select: false })
  searchTermsVersion?: number;

  /** The WMS role whose agent this conversation talks to. */
  @Prop({ type: String, required: true })
  role!: string;

  /** The agent that answers; null only for conversations created before agents existed. */
  @Prop({ type: String, default: null })
  agentKey!: string | null;

  /** Rolling summary of the messages that no longer fit the agent's context, up to `throughSeq`. */
  @Prop({ type: Object, default: null })
  summary!: ConversationSummary | null;

  @Prop({ type: String, enum: CONVERSATION_STATUSES, default: 'active' })
  status!: ConversationStatus;

  @Prop({ type: Object, default: () => ({}) })
  metadata!: Record<string, unknown>;

  @Prop({ type: Date, default: null })
  lastMessageAt!: Date | null;

  /** Sort key of the listing: the last message's time, or creation time before any message. */
  @Prop({ type: Date, required: true })
  lastActivityAt!: Date;

  @Prop({ type: Number, default: 0, min: 0 })
  messageCount!: number;

  /** Highest message sequence number handed out; messages get `seq` = previous lastSeq + 1. */
  @Prop({ type: Number, default: 0, min: 0 })
  lastSeq!: number;

  /**
   * Bumped after a message of the conversation changes in place (a reply completed or failed,
   * attachments counted): with messageCount and lastSeq, the version a cached history is checked
   * against (MessageCache). Absent on conversations no message has changed in yet: 0.
   */
  @Prop({ type: Number, default: 0, min: 0 })
  messagesRev!: number;

  @Prop({ type: Date, default: null })
  archivedAt!: Date | null;

  @Prop({ type: Date, default: null })
  deletedAt!: Date | null;

  createdAt!: Date;
  updatedAt!: Date;
}

export type ConversationDocument = HydratedDocument<Conversation>;
export const ConversationSchema = SchemaFactory.createForClass(Conversation);

// Index definitions live with the schema for reading; migrations/ creates them (autoIndex is off).
// 0001: the design's index — a user's conversations by creation (exports, GDPR look-ups).
ConversationSchema.index({ userId: 1, createdAt: -1 });
// 0001: GET /conversations — a user's conversations of one status, newest activity first (keyset).
ConversationSchema.index({ userId: 1, status: 1, lastActivityAt: -1, _id: -1 });
// 0001: GET /conversations?role= — the same listing narrowed to one agent role.
ConversationSchema.index({ userId: 1, status: 1, role: 1, lastActivityAt: -1, _id: -1 });
// 0005: search — a user's conversations whose title contains a term.
ConversationSchema.index({ userId: 1, titleTerms: 1 });
// 0008: the count repair job — conversations changed within a time window, in (updatedAt, _id) batches.
ConversationSchema.index({ updatedAt: 1, _id: 1 });
// 0010: retention — conversations whose last activity is older than the period (any status).
ConversationSchema.index({ lastActivityAt: 1 });
// 0010: retention — conversations deleted with permanent=true, by when (the purge's grace period).
ConversationSchema.index({ status: 1, deletedAt: 1 });
// 0014: analytics rollups — conversations started within a day.
ConversationSchema.index({ createdAt: 1 });
