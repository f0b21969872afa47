import { canonicalJson, entryHash, keyedUserIdHash, toPlainJson } from '../../src/compliance/audit/audit-chain.js';
import { AuthFailureBursts, networkOf } from '../../src/compliance/audit/auth-failure-bursts.js';

describe('canonicalJson', () => {
  it('gives the same text whatever the key order, with dates as ISO strings and undefined left out', () => {
    const at = new Date('2025-03-01T10:00:00.000Z');
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: at }, skipped: undefined })).toBe(
      '{"a":{"c":"2025-03-01T10:00:00.000Z","d":[1,{"x":1,"y":2}]},"b":1}',
    );
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('keeps details as plain JSON, as they read back from the store', () => {
    expect(toPlainJson({ at: new Date('2025-03-01T10:00:00.000Z'), gone: undefined, n: 1 })).toEqual({
      at: '2025-03-01T10:00:00.000Z',
      n: 1,
    });
  });
});

describe('entryHash', () => {
  const key = Buffer.from('k'.repeat(32));
  const entry = {
    seq: 3,
    at: new Date('2025-03-01T10:00:00.000Z'),
    action: 'admin.read',
    actor: { userId: 'admin-1', userIdHash: keyedUserIdHash(key, 'admin-1'), roles: ['admin'] },
    subject: { userId: 'alice', userIdHash: keyedUserIdHash(key, 'alice') },
    target: null,
    details: { count: 2 },
    prevHash: 'a'.repeat(64),
  };

  it('does not cover the plain user ids (erasure removes them), and covers everything else', () => {
    const hash = entryHash(key, entry);
    expect(
      entryHash(key, { ...entry, actor: { ...entry.actor, userId: undefined }, subject: { userIdHash: entry.subject.userIdHash } }),
    ).toBe(hash);
    expect(entryHash(key, { ...entry, details: { count: 3 } })).not.toBe(hash);
    expect(entryHash(key, { ...entry, seq: 4 })).not.toBe(hash);
    expect(entryHash(key, { ...entry, prevHash: 'b'.repeat(64) })).not.toBe(hash);
    expect(entryHash(key, { ...entry, subject: { ...entry.subject, userIdHash: 'c'.repeat(64) } })).not.toBe(hash);
    expect(entryHash(Buffer.from('another key of at least 32 chars'), entry)).not.toBe(hash);
  });
});

describe('AuthFailureBursts', () => {
  const at = (second: number) => new Date(Date.UTC(2025, 2, 1, 10, 0, second));

  it('answers a burst once, when an address reaches the threshold within a minute; each minute starts again', () => {
    const bursts = new AuthFailureBursts(3);
    expect(bursts.add('10.0.0.1', 'expired', at(1))).toBeNull();
    expect(bursts.add('10.0.0.2', 'expired', at(2))).toBeNull();
    expect(bursts.add('10.0.0.1', 'invalid', at(3))).toBeNull();
    expect(bursts.add('10.0.0.1', 'invalid', at(4))).toEqual({
      ip: '10.0.0.1',
      windowStart: at(0),
      failures: 3,
      reasons: ['expired', 'invalid'],
    });
    expect(bursts.add('10.0.0.1', 'invalid', at(5))).toBeNull();
    expect(bursts.add('10.0.0.1', 'invalid', at(61))).toBeNull();
    expect(bursts.add('10.0.0.1', 'invalid', at(62))).toBeNull();
    expect(bursts.add('10.0.0.1', 'invalid', at(63))).toMatchObject({ windowStart: at(60), failures: 3 });
  });

  it('tracks a bounded number of addresses a minute', () => {
    const bursts = new AuthFailureBursts(1, 2);
    expect(bursts.add('10.0.0.1', 'x', at(1))).not.toBeNull();
    expect(bursts.add('10.0.0.2', 'x', at(1))).not.toBeNull();
    expect(bursts.add('10.0.0.3', 'x', at(1))).toBeNull();
    expect(bursts.untracked).toBe(1);
    expect(bursts.add('10.0.0.3', 'x', at(61))).not.toBeNull();
    expect(bursts.untracked).toBe(0);
  });
});

describe('networkOf', () => {
  it.each([
    ['203.0.113.9', '203.0.113.0/24'],
    ['::ffff:198.51.100.7', '198.51.100.0/24'],
    ['2001:db8:1234:5678::1', '2001:db8:1234::/48'],
    ['2001:db8::1', '2001:db8::/48'],
    ['::1', '::/48'],
    ['fe80::1%eth0', 'fe80::/48'],
    ['unknown', null],
  ])('%s is in %s', (ip, network) => {
    expect(networkOf(ip)).toBe(network);
  });
});
