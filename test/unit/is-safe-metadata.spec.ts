import { metadataProblem } from '../../src/common/validation/is-safe-metadata.validator.js';

describe('metadataProblem', () => {
  it('accepts ordinary nested JSON', () => {
    expect(metadataProblem({ site: 'DC-01', tags: ['a', 'b'], shift: { name: 'night', lead: null } })).toBeUndefined();
  });

  it.each([
    ['a string', 'x', /JSON object/],
    ['an array', [1], /JSON object/],
    ['null', null, /JSON object/],
    ['a $ key at depth', { a: { b: { $gt: 1 } } }, /\$gt/],
    ['a $ key inside an array', { list: [{ $where: 'x' }] }, /\$where/],
    ['a dotted key', { 'a.b': 1 }, /a\.b/],
    ['a __proto__ key', JSON.parse('{"__proto__": {"polluted": true}}'), /__proto__/],
    ['too many keys', Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])), /at most 100 keys/],
    ['too deep', { a: { b: { c: { d: { e: 1 } } } } }, /nest deeper/],
    ['too large', { text: 'x'.repeat(16 * 1024) }, /at most 16384 bytes/],
  ])('refuses %s', (_case, value, message) => {
    expect(metadataProblem(value)).toMatch(message);
  });
});
