import type { Types } from 'mongoose';
import type { ConversationStatus } from './schemas/conversation.schema.js';

/** An inclusion and/or exclusion list for one field; `null` stands for "none" (conversations without an agent). */
export interface InclusionFilter<T> {
  in?: T[];
  nin?: T[];
}

/**
 * Which conversations retention looks at, across all users. The time condition: `lastActivityBefore`
 * matches conversations of any status whose last activity is older; `deletedBefore` matches
 * conversations deleted (status `deleted`) before it; with both, a conversation matching either is
 * found. At least one of the two must be given: a query without a time condition would find
 * every conversation, so it is refused.
 */
export interface RetentionQuery {
  lastActivityBefore?: Date;
  deletedBefore?: Date;
  roles?: InclusionFilter<string>;
  agentKeys?: InclusionFilter<string | null>;
  /** Users on legal hold, or covered by another policy. */
  excludeUserIds?: string[];
  /** Conversations on legal hold. */
  excludeConversationIds?: Types.ObjectId[];
  /** Owners whose id matches are left out (an anonymise pass skips owners that are already pseudonyms). */
  excludeOwnersMatching?: RegExp;
  /** Keyset: only conversations with a greater _id (the last one of the previous batch). */
  afterId?: Types.ObjectId;
  limit: number;
}

/** What retention reads of a conversation it may purge or pseudonymise. */
export interface RetentionCandidate {
  id: Types.ObjectId;
  userId: string;
  role: string;
  agentKey: string | null;
  status: ConversationStatus;
  lastActivityAt: Date;
  deletedAt: Date | null;
}

/**
 * What markForPurge re-checks at the moment it marks a conversation, so one that changed since it
 * was selected is left alone: still inactive since before `lastActivityBefore` and not deleted
 * (those are the permanently-deleted pass's), or deleted before `deletedBefore`.
 */
export type PurgeGuard = { lastActivityBefore: Date } | { deletedBefore: Date };
