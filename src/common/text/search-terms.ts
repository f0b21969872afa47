import { stemmer } from 'stemmer';

/**
 * The one definition of what a searchable term is, shared by indexing (terms stored with each
 * message, title and attachment) and querying, so both sides always agree:
 * - words are runs of letters and digits; case and diacritics are folded (`Ärger` = `arger`);
 * - Latin-script words are Porter-stemmed (`picked`, `picking`, `picks` → `pick`);
 * - Chinese, Japanese and Korean have no spaces between words: their runs are indexed as single
 *   characters and overlapping pairs, and a query word as its pairs;
 * - a few very common English words are not indexed;
 * - each pair of neighbouring indexed words is a term too (`"red tote"` → `red tote`), so a
 *   phrase query finds its candidates through the index (the phrase itself is then checked).
 */

export const STOP_WORDS: ReadonlySet<string> = new Set(
  'a an and are as at be but by can do does for from get got has have how i if in into is it its me my no not of on or our should so that the then there this to was we what when where which who why will with you your'.split(
    ' ',
  ),
);

const CJK = String.raw`\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}`;
/** A CJK run, or a run of other letters, marks and digits. */
const WORD = new RegExp(String.raw`[${CJK}]+|(?:(?![${CJK}])[\p{L}\p{M}\p{N}])+`, 'gu');
const IS_CJK = new RegExp(String.raw`^[${CJK}]`, 'u');
const LATIN_WORD = /^[a-z0-9]+$/;

export interface Token {
  /** Folded (lower case, no diacritics), not stemmed. */
  folded: string;
  start: number;
  end: number;
  cjk: boolean;
}

/** Lower case without diacritics: what matching compares. */
export function fold(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase().replace(/ß/g, 'ss');
}

/** The words of a text with their offsets in it. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  for (const match of text.matchAll(WORD)) {
    const folded = fold(match[0]);
    if (folded === '') continue;
    tokens.push({ folded, start: match.index, end: match.index + match[0].length, cjk: IS_CJK.test(match[0]) });
  }
  return tokens;
}

/** The term a folded non-CJK word is indexed under. */
export function stemWord(folded: string): string {
  return LATIN_WORD.test(folded) && folded.length > 2 ? stemmer(folded) : folded;
}

/** Terms a query word must all match (a CJK word: its character pairs). */
export function queryTermsOf(token: Token): string[] {
  if (!token.cjk) return [stemWord(token.folded)];
  const chars = [...token.folded];
  if (chars.length === 1) return chars;
  return chars.slice(1).map((char, i) => chars[i]! + char);
}

/**
 * The distinct terms of a text (words, then also word pairs), in first-seen order, at most `max`
 * of them (a very long document is indexed by the terms of its beginning).
 */
export function indexTermsOf(text: string, max = MAX_TERMS): string[] {
  const terms = new Set<string>();
  let previous: string | null = null;
  for (const token of tokenize(text)) {
    if (token.cjk) {
      // A long run stops adding once the cap is reached (a 32,000-character run has 64,000 terms).
      const chars = [...token.folded];
      for (let i = 0; i < chars.length && terms.size < max; i += 1) {
        terms.add(chars[i]!);
        if (i > 0) terms.add(chars[i - 1]! + chars[i]!);
      }
      previous = null;
    } else if (!STOP_WORDS.has(token.folded)) {
      const stem = stemWord(token.folded);
      terms.add(stem);
      if (previous !== null) terms.add(pairTerm(previous, stem));
      previous = stem;
    }
    if (terms.size >= max) break;
  }
  return [...terms].slice(0, max);
}

/** The term of two neighbouring indexed words (a space never occurs inside a word term). */
export function pairTerm(first: string, second: string): string {
  return `${first} ${second}`;
}

/** Bumped whenever indexTermsOf changes what it produces; a migration then re-indexes older documents. */
export const SEARCH_TERMS_VERSION = 2;

/** The fields a document stores for search: its terms under `field`, and the term format's version. */
export function searchFields(field: 'searchTerms' | 'titleTerms', text: string, max = MAX_TERMS): Record<string, unknown> {
  return { [field]: indexTermsOf(text, max), searchTermsVersion: SEARCH_TERMS_VERSION };
}

/** Attachments are found by their name (without extension) and their extracted text. */
export function attachmentSearchText(name: string, extractedText: string | null): string {
  return `${name.replace(/\.[a-z0-9]+$/i, '')} ${extractedText ?? ''}`;
}

/** Terms (words and pairs) kept per message or title, and per attachment (long documents are indexed by their beginning). */
export const MAX_TERMS = 8000;
export const MAX_ATTACHMENT_TERMS = 20_000;
