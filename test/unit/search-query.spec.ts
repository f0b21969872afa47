import { fold, indexTermsOf } from '../../src/common/text/search-terms.js';
import { containsPhrase, parseSearchQuery, passesPhraseChecks } from '../../src/search/search-query.js';
import { buildSnippet } from '../../src/search/snippets.js';

describe('search terms', () => {
  it('folds case and diacritics and stems English words', () => {
    expect(fold('Ärger ÉTÉ straße')).toBe('arger ete strasse');
    expect(indexTermsOf('Picked, picking and PICKS: the pallets!')).toEqual(['pick', 'pick pick', 'pallet', 'pick pallet']);
  });

  it('indexes CJK runs as characters and pairs, other scripts as words', () => {
    expect(indexTermsOf('仓库A12')).toEqual(['仓', '库', '仓库', 'a12']);
    expect(indexTermsOf('Склад поддонов')).toEqual(['склад', 'поддонов', 'склад поддонов']);
  });

  it('keeps at most the given number of terms', () => {
    expect(indexTermsOf('pallet dock tote aisle bay', 3)).toEqual(['pallet', 'dock', 'pallet dock']);
  });
});

describe('parseSearchQuery', () => {
  it('reads words, phrases, exclusions and prefixes', () => {
    const query = parseSearchQuery('Damaged "red tote" -pallets quar* -"blue bin"');
    expect(query.terms).toEqual({ all: ['damag', 'red', 'red tote', 'tote'], prefixes: ['quar'], none: ['pallet'] });
    expect(query.phrases.map((phrase) => phrase.map((token) => token.folded))).toEqual([['red', 'tote']]);
    expect(query.excludedPhrases.map((phrase) => phrase.map((token) => token.folded))).toEqual([['blue', 'bin']]);
  });

  it('looks phrases up by their word pairs, across common words', () => {
    expect(parseSearchQuery('"bay of the pigs"').terms.all).toEqual(['bai', 'bai pig', 'pig']);
    expect(indexTermsOf('The Bay of Pigs')).toContain('bai pig');
  });

  it('turns CJK words into pairs and treats symbols as separators', () => {
    expect(parseSearchQuery('托盘坏').terms.all).toEqual(['托盘', '盘坏']);
    expect(parseSearchQuery('$where: {tote} .*[').terms.all).toEqual(['tote']);
  });

  it.each([
    ['', 'must not be empty'],
    ['"red tote', 'unbalanced quote'],
    ['-tote -"red bin"', 'nothing to look for'],
    ['the of and', 'nothing to look for'],
    ['x'.repeat(501), 'at most 500'],
    [Array.from({ length: 21 }, (_, i) => `word${i}`).join(' '), 'at most 20 terms'],
  ])('refuses %j', (q, message) => {
    expect(() => parseSearchQuery(q)).toThrow(message);
  });

  it('checks phrases word by word, folded', () => {
    const query = parseSearchQuery('"red tote" -"blue bin"');
    expect(passesPhraseChecks(query, 'Put it in the RED tote.')).toBe(true);
    expect(passesPhraseChecks(query, 'the tote is red')).toBe(false);
    expect(passesPhraseChecks(query, 'red tote next to the blue bin')).toBe(false);
    expect(containsPhrase('credit totes', parseSearchQuery('"red tote"').phrases[0]!)).toBe(false);
  });
});

describe('buildSnippet', () => {
  it('cuts around the first match and reports highlight offsets in the snippet', () => {
    const text = `${'Receiving dock notes. '.repeat(10)}The damaged tote went to quarantine. ${'More notes follow here. '.repeat(10)}`;
    const snippet = buildSnippet(text, parseSearchQuery('damaged quarant*'));
    expect(snippet.text.startsWith('…')).toBe(true);
    expect(snippet.text.endsWith('…')).toBe(true);
    expect(snippet.highlights.map((h) => snippet.text.slice(h.start, h.end))).toEqual(['damaged', 'quarantine']);
  });

  it('highlights CJK words and whole short texts', () => {
    const snippet = buildSnippet('仓库里的托盘坏了', parseSearchQuery('托盘'));
    expect(snippet).toEqual({ text: '仓库里的托盘坏了', highlights: [{ start: 4, end: 6 }] });
  });
});
