import mongoose, { type Types } from 'mongoose';

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

const { trusted } = mongoose;

/**
 * The parts of a term search on one array field: a condition for the field itself (all / none)
 * and one `$elemMatch` clause per prefix, to go under `$and` (two range conditions on the same
 * array field would be met by different elements).
 */
export function termFilter(field: string, terms: TermCriteria): { query: Record<string, unknown>; and: Record<string, unknown>[] } {
  const { all, prefixes, none } = terms;
  const query: Record<string, unknown> = {};
  if (all.length > 0 || none.length > 0) {
    query[field] = trusted({ ...(all.length > 0 ? { $all: all } : {}), ...(none.length > 0 ? { $nin: none } : {}) });
  }
  return { query, and: prefixes.map((prefix) => ({ [field]: trusted({ $elemMatch: prefixRange(prefix) }) })) };
}

/** `{ conversationId }` narrowed to the conversations in scope, or nothing when all are. */
export function conversationScope(scope: {
  onlyConversations?: Types.ObjectId[];
  excludeConversations: Types.ObjectId[];
}): Record<string, unknown> {
  if (scope.onlyConversations) return { conversationId: trusted({ $in: scope.onlyConversations }) };
  return scope.excludeConversations.length > 0 ? { conversationId: trusted({ $nin: scope.excludeConversations }) } : {};
}

/** `{ [field]: { $gte: from, $lte: to } }` with the bounds given, or nothing. */
export function timeRange(field: string, from?: Date, to?: Date): Record<string, unknown> {
  if (!from && !to) return {};
  return { [field]: trusted({ ...(from ? { $gte: from } : {}), ...(to ? { $lte: to } : {}) }) };
}

/** Strictly before a (time, _id) position in newest-first order. */
export function beforeKeyset(field: string, position: TimeKeyset): Record<string, unknown> {
  return { $or: [{ [field]: trusted({ $lt: position.time }) }, { [field]: position.time, _id: trusted({ $lt: position.id }) }] };
}
