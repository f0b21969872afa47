import { Types } from 'mongoose';
import { AppException } from '../../src/common/errors/app-exceptions.js';
import { decodeCursor, encodeCursor, toPage } from '../../src/common/pagination/cursor.js';

describe('cursor', () => {
  const position = { scope: 'conversations:active:*', key: new Date('2026-11-28T10:00:00.123Z'), id: new Types.ObjectId() };

  it('round-trips the sort key and id as opaque base64url', () => {
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor, position.scope, 'cursor')).toEqual(position);
  });

  it.each([
    ['another scope', () => encodeCursor({ ...position, scope: 'messages:x:asc' })],
    ['not base64url', () => 'a+b/c='],
    ['not JSON', () => Buffer.from('hello').toString('base64url')],
    ['JSON null', () => Buffer.from('null').toString('base64url')],
    [
      'a non-canonical date',
      () => Buffer.from(JSON.stringify({ s: position.scope, k: '2026-11-28', i: position.id.toHexString() })).toString('base64url'),
    ],
    [
      'an operator as id',
      () => Buffer.from(JSON.stringify({ s: position.scope, k: position.key.toISOString(), i: { $gt: '' } })).toString('base64url'),
    ],
    ['an oversized value', () => 'A'.repeat(600)],
  ])('rejects %s with INVALID_CURSOR', (_case, make) => {
    expect(() => decodeCursor(make(), position.scope, 'cursor')).toThrow(AppException);
    try {
      decodeCursor(make(), position.scope, 'cursor');
    } catch (error) {
      expect((error as AppException).getResponse()).toMatchObject({ statusCode: 400, code: 'INVALID_CURSOR' });
    }
  });

  it('builds a page from limit + 1 rows, with a cursor only when more exist', () => {
    const rows = [1, 2, 3].map((n) => ({ _id: new Types.ObjectId(), at: new Date(n * 1000) }));
    const more = toPage(
      rows,
      2,
      's',
      (row) => row.at,
      (row) => row._id.toHexString(),
    );
    expect(more.items).toEqual([rows[0]!._id.toHexString(), rows[1]!._id.toHexString()]);
    expect(decodeCursor(more.nextCursor!, 's', 'cursor')).toEqual({ scope: 's', key: rows[1]!.at, id: rows[1]!._id });
    expect(
      toPage(
        rows.slice(0, 2),
        2,
        's',
        (row) => row.at,
        (row) => row,
      ).nextCursor,
    ).toBeNull();
  });
});
