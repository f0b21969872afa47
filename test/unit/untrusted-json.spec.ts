import { JSON_LIMITS, findJsonProblem } from '../../src/common/validation/untrusted-json.js';

const nested = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i += 1) value = { a: value };
  return value;
};

describe('findJsonProblem', () => {
  it('accepts ordinary JSON, including arrays, nulls, numbers and text in any script', () => {
    expect(
      findJsonProblem({ title: 'Kurzpick – 短缺 😀', metadata: { tags: ['a', 'b'], lead: null, count: 3 }, list: [[1], { x: true }] }),
    ).toBeUndefined();
    expect(findJsonProblem(undefined)).toBeUndefined();
    expect(findJsonProblem('plain')).toBeUndefined();
  });

  it(`accepts ${JSON_LIMITS.maxDepth} levels and refuses one more, naming the path`, () => {
    expect(findJsonProblem(nested(JSON_LIMITS.maxDepth))).toBeUndefined();
    const found = findJsonProblem(nested(JSON_LIMITS.maxDepth + 1));
    expect(found?.field).toBe(Array(JSON_LIMITS.maxDepth).fill('a').join('.'));
    expect(found?.messages[0]).toMatch(/deeper than 32 levels/);
  });

  it('refuses 100,000 levels without exhausting the stack', () => {
    const text = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(findJsonProblem(JSON.parse(text))?.messages[0]).toMatch(/deeper than 32/);
  });

  it.each([
    ['a __proto__ key', JSON.parse('{"metadata":{"__proto__":{"x":1}}}') as unknown, 'metadata.__proto__', /prototype/],
    ['a constructor key', { metadata: { constructor: 1 } }, 'metadata.constructor', /prototype/],
    ['a prototype key in an array item', { list: [{}, { prototype: 1 }] }, 'list.1.prototype', /prototype/],
    ['a NUL in a key', { metadata: { 'a\u0000b': 1 } }, 'metadata."a\\u0000b"', /NUL/],
    ['a control character in a key', { 'tab\there': 1 }, '"tab\\there"', /control/],
    ['a lone surrogate in a key', { '\ud800': 1 }, '"\\ud800"', /surrogate/],
    ['a NUL in a string', { metadata: { note: 'x\u0000' } }, 'metadata.note', /NUL/],
    ['a lone surrogate in a string', { content: 'hi \udc00' }, 'content', /surrogate/],
    ['a NUL in a string in an array', { tags: ['ok', '\u0000'] }, 'tags.1', /NUL/],
    ['a NUL at the top', '\u0000', 'body', /NUL/],
    ['an array over the limit', { tags: Array(JSON_LIMITS.maxArrayLength + 1).fill(0) }, 'tags', /at most 1000 items/],
  ])('refuses %s, naming the field', (_case, value, field, message) => {
    const found = findJsonProblem(value);
    expect(found?.field).toBe(field);
    expect(found?.messages[0]).toMatch(message);
  });

  it('accepts surrogate pairs, dotted and $ keys (the metadata validator decides those)', () => {
    expect(findJsonProblem({ '😀': '😀', 'a.b': 1, $x: 2 })).toBeUndefined();
  });
});
