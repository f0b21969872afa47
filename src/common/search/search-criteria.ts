import type { Types } from 'mongoose';

/**
 * What a term search asks of one collection, already parsed and normalised (see
 * src/search/search-query.ts). Each module turns it into a filter on its own term array.
 */
export interface TermCriteria {
  /** Every one of these terms. */
  all: string[];
  /** For each, some term starting with it. */
  prefixes: string[];
  /** None of these terms. */
  none: string[];
}

/** Newest first, strictly before this point (keyset). */
export interface TimeKeyset {
  time: Date;
  id: Types.ObjectId;
}

export interface MessageSearchFilter {
  terms: TermCriteria;
  /** Only these conversations (a role or status filter), else any but `excludeConversations`. */
  onlyConversations?: Types.ObjectId[];
  excludeConversations: Types.ObjectId[];
  type?: 'user' | 'assistant';
  hasAttachments?: boolean;
  from?: Date;
  to?: Date;
  before?: TimeKeyset;
  /** At most this many (lets the store sort only the top of the matches). */
  limit?: number;
}

/** Prefix bounds on a term array: some element in [prefix, prefix + U+FFFF). */
export function prefixRange(prefix: string): { $gte: string; $lt: string } {
  return { $gte: prefix, $lt: `${prefix}\uffff` };
}
