import { Types } from 'mongoose';
import { AppException } from '../errors/app-exceptions.js';
import { ErrorCode } from '../errors/error-codes.js';
import { HttpStatus } from '@nestjs/common';

/**
 * A keyset position: the sort key of the last item a page returned, plus its `_id` as tie-breaker.
 * Encoded as opaque base64url JSON; `scope` binds a cursor to the listing (and direction) that
 * issued it, so one cannot be replayed against another.
 */
export interface CursorPosition {
  scope: string;
  /** For ranked listings (search): the rank of the last item, compared before `key`. */
  rank?: number;
  key: Date;
  id: Types.ObjectId;
}

interface EncodedCursor {
  s: string;
  r?: number;
  k: string;
  i: string;
}

const MAX_CURSOR_LENGTH = 512;

export function encodeCursor(position: CursorPosition): string {
  const payload: EncodedCursor = { s: position.scope, k: position.key.toISOString(), i: position.id.toHexString() };
  if (position.rank !== undefined) payload.r = position.rank;
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

/** Decodes a client-supplied cursor; anything malformed or from another listing is a 400. */
export function decodeCursor(cursor: string, expectedScope: string, parameter: string): CursorPosition {
  const invalid = () =>
    new AppException(HttpStatus.BAD_REQUEST, ErrorCode.INVALID_CURSOR, `${parameter} is not a cursor issued by this listing`, [
      { field: parameter, messages: [`${parameter} must be a nextCursor value returned by this listing`] },
    ]);
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let payload: Partial<EncodedCursor>;
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<EncodedCursor>;
  } catch {
    throw invalid();
  }
  if (typeof payload !== 'object' || payload === null) throw invalid();
  const { s, r, k, i } = payload;
  if (s !== expectedScope || typeof k !== 'string' || typeof i !== 'string' || !/^[0-9a-f]{24}$/.test(i)) throw invalid();
  if (r !== undefined && (typeof r !== 'number' || !Number.isFinite(r))) throw invalid();
  const key = new Date(k);
  if (Number.isNaN(key.getTime()) || key.toISOString() !== k) throw invalid();
  return { scope: s, ...(r !== undefined ? { rank: r } : {}), key, id: new Types.ObjectId(i) };
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Builds a page from `limit + 1` fetched rows: the extra row only tells that there is more.
 */
export function toPage<TRow extends { _id: Types.ObjectId }, TItem>(
  rows: TRow[],
  limit: number,
  scope: string,
  sortKey: (row: TRow) => Date,
  map: (row: TRow) => TItem,
): Page<TItem> {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return {
    items: pageRows.map(map),
    nextCursor: hasMore && last ? encodeCursor({ scope, key: sortKey(last), id: last._id }) : null,
  };
}
