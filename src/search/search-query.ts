import type { TermCriteria } from '../common/search/search-criteria.js';
import { STOP_WORDS, type Token, fold, pairTerm, queryTermsOf, stemWord, tokenize } from '../common/text/search-terms.js';
import { ValidationFailedException } from '../common/errors/app-exceptions.js';

export const MAX_QUERY_LENGTH = 500;
const MAX_TERMS = 20;
const MIN_PREFIX_LENGTH = 2;

/**
 * A parsed search query. Words are ANDed; `"exact phrase"`; `-excluded` (word or phrase);
 * `prefix*`. Everything is matched case- and diacritic-insensitively, words by their stems. No
 * character of the query ever reaches the store as anything but a literal term.
 */
export interface SearchQuery {
  /** What the store filters on. */
  terms: TermCriteria;
  /** Phrases that must appear as written (folded), checked on each candidate. */
  phrases: Token[][];
  excludedPhrases: Token[][];
  /** For highlighting: stems, prefixes and CJK words the query looks for. */
  highlight: { stems: Set<string>; prefixes: string[]; cjk: string[] };
  /** Stable text of the query, for binding cursors to it. */
  canonical: string;
}

/** Parses a query string; 400 for unbalanced quotes, nothing to look for, or too many terms. */
export function parseSearchQuery(input: string): SearchQuery {
  const q = input.trim();
  if (q === '') throw invalid('q must not be empty');
  if ([...q].length > MAX_QUERY_LENGTH) throw invalid(`q must be at most ${MAX_QUERY_LENGTH} characters`);
  if ((q.match(/"/g)?.length ?? 0) % 2 === 1) throw invalid('q has an unbalanced quote: close every "phrase"');

  const all = new Set<string>();
  const none = new Set<string>();
  const prefixes = new Set<string>();
  const phrases: Token[][] = [];
  const excludedPhrases: Token[][] = [];
  const stems = new Set<string>();
  const cjk: string[] = [];

  // A part is -?"phrase" or -?word; whatever is not a word character only separates words.
  for (const part of q.matchAll(/(-?)"([^"]*)"|(-?)(\S+)/g)) {
    const excluded = (part[1] ?? part[3]) === '-';
    const phraseText = part[2];
    if (phraseText !== undefined) {
      const tokens = tokenize(phraseText);
      if (tokens.length === 0) continue;
      if (excluded) {
        if (tokens.length === 1) addExcluded(tokens[0]!, none, excludedPhrases);
        else excludedPhrases.push(tokens);
        continue;
      }
      phrases.push(tokens);
      for (const token of tokens) addRequired(token, all, stems, cjk);
      phrasePairs(tokens).forEach((pair) => all.add(pair));
      continue;
    }
    const word = part[4]!;
    if (!excluded && word.endsWith('*') && !word.slice(0, -1).includes('*')) {
      const tokens = tokenize(word.slice(0, -1));
      const last = tokens.pop();
      for (const token of tokens) addRequired(token, all, stems, cjk);
      if (last && !last.cjk && last.folded.length >= MIN_PREFIX_LENGTH) prefixes.add(last.folded);
      else if (last) addRequired(last, all, stems, cjk);
      continue;
    }
    for (const token of tokenize(word)) {
      if (excluded) addExcluded(token, none, excludedPhrases);
      else addRequired(token, all, stems, cjk);
    }
  }

  for (const term of none) all.delete(term);
  if (all.size === 0 && prefixes.size === 0) {
    throw invalid('q has nothing to look for: give at least one word that is not excluded and not a very common word');
  }
  if (all.size + prefixes.size + none.size > MAX_TERMS) throw invalid(`q may use at most ${MAX_TERMS} terms`);
  const terms = { all: [...all].sort(), prefixes: [...prefixes].sort(), none: [...none].sort() };
  return {
    terms,
    phrases,
    excludedPhrases,
    highlight: { stems, prefixes: terms.prefixes, cjk },
    canonical: JSON.stringify([terms, phrases.map(foldedWords), excludedPhrases.map(foldedWords)]),
  };
}

function addRequired(token: Token, all: Set<string>, stems: Set<string>, cjk: string[]): void {
  if (token.cjk) {
    queryTermsOf(token).forEach((term) => all.add(term));
    cjk.push(token.folded);
    return;
  }
  // Very common words are not indexed; inside a phrase the phrase check still requires them.
  if (STOP_WORDS.has(token.folded)) return;
  const stem = stemWord(token.folded);
  all.add(stem);
  stems.add(stem);
}

/** An excluded word: a term the store filters out, or (CJK, a sequence of pairs) a phrase check. */
function addExcluded(token: Token, none: Set<string>, excludedPhrases: Token[][]): void {
  if (token.cjk) excludedPhrases.push([token]);
  else if (!STOP_WORDS.has(token.folded)) none.add(stemWord(token.folded));
}

/** The pair terms of a phrase's neighbouring indexed words, as indexTermsOf makes them. */
function phrasePairs(tokens: Token[]): string[] {
  const pairs: string[] = [];
  let previous: string | null = null;
  for (const token of tokens) {
    if (token.cjk) {
      previous = null;
    } else if (!STOP_WORDS.has(token.folded)) {
      const stem = stemWord(token.folded);
      if (previous !== null) pairs.push(pairTerm(previous, stem));
      previous = stem;
    }
  }
  return pairs;
}

function foldedWords(tokens: Token[]): string {
  return tokens.map((token) => token.folded).join(' ');
}

/** Whether a text contains the phrase: its folded words, consecutive (CJK: as a substring). */
export function containsPhrase(text: string, phrase: Token[]): boolean {
  if (phrase.some((token) => token.cjk)) {
    return fold(text)
      .replace(/\s+/g, ' ')
      .includes(phrase.map((token) => token.folded).join(' '));
  }
  const words = tokenize(text).map((token) => token.folded);
  const wanted = phrase.map((token) => token.folded);
  outer: for (let i = 0; i + wanted.length <= words.length; i += 1) {
    for (let j = 0; j < wanted.length; j += 1) if (words[i + j] !== wanted[j]) continue outer;
    return true;
  }
  return false;
}

/** Whether a candidate from the store passes the checks terms cannot express (phrases). */
export function passesPhraseChecks(query: SearchQuery, text: string): boolean {
  return (
    query.phrases.every((phrase) => containsPhrase(text, phrase)) && !query.excludedPhrases.some((phrase) => containsPhrase(text, phrase))
  );
}

function invalid(message: string): ValidationFailedException {
  return ValidationFailedException.forField('q', message);
}
