import { stemWord, tokenize } from '../common/text/search-terms.js';
import type { SearchQuery } from './search-query.js';

export interface Highlight {
  start: number;
  end: number;
}

export interface Snippet {
  text: string;
  /** Ranges of `text` (UTF-16 offsets, end exclusive) that matched the query. */
  highlights: Highlight[];
}

const SNIPPET_LENGTH = 200;
const LEAD = 60;

/** Where a text matches the query: its words with a wanted stem or prefix, and CJK words. */
export function matchRanges(text: string, query: SearchQuery): Highlight[] {
  const { stems, prefixes, cjk } = query.highlight;
  const ranges: Highlight[] = [];
  for (const token of tokenize(text)) {
    if (token.cjk) continue;
    if (stems.has(stemWord(token.folded)) || prefixes.some((prefix) => token.folded.startsWith(prefix))) {
      ranges.push({ start: token.start, end: token.end });
    }
  }
  for (const word of cjk) {
    for (let at = text.indexOf(word); at !== -1; at = text.indexOf(word, at + word.length))
      ranges.push({ start: at, end: at + word.length });
  }
  ranges.sort((a, b) => a.start - b.start);
  const merged: Highlight[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

/** About 200 characters of `text` around its first match, with the matches in it. */
export function buildSnippet(text: string, query: SearchQuery): Snippet {
  const ranges = matchRanges(text, query);
  let start = Math.max(0, (ranges[0]?.start ?? 0) - LEAD);
  if (start > 0) {
    const space = text.indexOf(' ', start);
    if (space !== -1 && space - start < 20 && space < (ranges[0]?.start ?? 0)) start = space + 1;
  }
  let end = Math.min(text.length, start + SNIPPET_LENGTH);
  if (end < text.length) {
    const space = text.lastIndexOf(' ', end);
    if (space > start && end - space < 20) end = space;
  }
  // Never cut a surrogate pair in half.
  if (start > 0 && isLowSurrogate(text.charCodeAt(start))) start -= 1;
  if (end < text.length && isLowSurrogate(text.charCodeAt(end))) end += 1;
  const lead = start > 0 ? '…' : '';
  const snippet = `${lead}${text.slice(start, end)}${end < text.length ? '…' : ''}`;
  const highlights = ranges
    .filter((range) => range.end > start && range.start < end)
    .map((range) => ({ start: Math.max(range.start, start) - start + lead.length, end: Math.min(range.end, end) - start + lead.length }));
  return { text: snippet, highlights };
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
