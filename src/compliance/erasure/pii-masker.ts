import { isValidIBAN, getCountrySpecifications } from 'ibantools';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/core';
// The full metadata (validity, not only length), as the package's JavaScript module of it.
import phoneMetadata from 'libphonenumber-js/metadata.max.json';
import validator from 'validator';

/** What each kind of personal data is replaced with. */
export const MASK_TOKENS = {
  email: '[email]',
  phone: '[phone]',
  card: '[card]',
  iban: '[iban]',
  name: '[name]',
} as const;
type MaskKind = keyof typeof MASK_TOKENS;

/**
 * The region whose national formats (`(415) 555-2671`) are recognised as phone numbers; numbers
 * written internationally (`+49 30 1234567`, `0049 30 1234567`) are recognised for every region.
 */
export const DEFAULT_PHONE_REGION: CountryCode = 'US';

export interface MaskOptions {
  /** The person's own names (full, given, family) and e-mail addresses, from their token claims or an admin's request. */
  names?: readonly string[];
  phoneRegion?: CountryCode;
}

/**
 * Masks personal data in free text: e-mail addresses, phone numbers, payment card numbers, IBANs
 * and the person's own names. Linear in the text's length: the scanners below walk the text once
 * (no backtracking regular expression over unbounded input), and each candidate they hand to a
 * validator is short.
 */
export function maskText(text: string, options: MaskOptions = {}): string {
  return createTextMasker(options)(text);
}

/** The same masking, with the names compiled once: for masking many texts of one person. */
export function createTextMasker(options: MaskOptions = {}): (text: string) => string {
  const names = compileNames(options.names ?? []);
  const region = options.phoneRegion ?? DEFAULT_PHONE_REGION;
  return (text) => {
    if (text.length === 0) return text;
    const spans: Span[] = [
      ...findEmails(text),
      ...findIbans(text),
      ...findCards(text),
      ...findPhones(text, region),
      ...findNames(text, names),
    ];
    return replaceSpans(text, spans);
  };
}

interface Span {
  start: number;
  end: number;
  kind: MaskKind;
}

/** Earlier kinds win where detections overlap (an e-mail address holding a name is one `[email]`). */
const PRIORITY: Record<MaskKind, number> = { email: 0, iban: 1, card: 2, phone: 3, name: 4 };

function replaceSpans(text: string, spans: Span[]): string {
  if (spans.length === 0) return text;
  spans.sort((a, b) => a.start - b.start || PRIORITY[a.kind] - PRIORITY[b.kind] || b.end - a.end);
  const parts: string[] = [];
  let position = 0;
  for (const span of spans) {
    if (span.start < position) continue;
    parts.push(text.slice(position, span.start), MASK_TOKENS[span.kind]);
    position = span.end;
  }
  parts.push(text.slice(position));
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------
// Character classes and context

const WORD_CHAR = /[\p{L}\p{N}\p{M}_]/u;

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= '0' && char <= '9';
}

/** The code point ending just before `index` (both halves of a surrogate pair). */
function charBefore(text: string, index: number): string | undefined {
  if (index <= 0) return undefined;
  const code = text.charCodeAt(index - 1);
  if (code >= 0xdc00 && code <= 0xdfff && index >= 2) return text.slice(index - 2, index);
  return text[index - 1];
}

function charAt(text: string, index: number): string | undefined {
  if (index >= text.length) return undefined;
  return String.fromCodePoint(text.codePointAt(index)!);
}

function isWordChar(char: string | undefined): boolean {
  return char !== undefined && WORD_CHAR.test(char);
}

/**
 * A number glued to letters or digits (`A-12-03`, `12345ABC`, `X12.5`) is part of a code, not a
 * number of its own: the character next to it is a word character, or a joiner (`-`, `.`, `/`)
 * with a word character beyond it.
 */
function gluedBefore(text: string, start: number): boolean {
  const before = charBefore(text, start);
  if (isWordChar(before)) return true;
  if (before === '-' || before === '.' || before === '/') return isWordChar(charBefore(text, start - 1));
  return false;
}

function gluedAfter(text: string, end: number): boolean {
  const after = charAt(text, end);
  if (isWordChar(after)) return true;
  if (after === '-' || after === '/' || after === '.') return isWordChar(charAt(text, end + 1));
  return false;
}

function wordSet(words: string): ReadonlySet<string> {
  return new Set(words.trim().split(/\s+/));
}

/**
 * Words that name a warehouse identifier: a number right after one of them (`order 1234567890`,
 * `SKU: 4006381333931`, `PO# 4155552671`) is that identifier, not a phone or card number.
 */
const IDENTIFIER_LABELS = wordSet(`
  order orders po so sku ean gtin upc barcode item article art part lot batch serial sn bin loc location slot
  zone aisle rack shelf pallet lpn sscc asn shipment tracking parcel invoice inv qty quantity pcs units ref
  reference case carton tote container dock door trailer seal load delivery dn receipt grn wave task ticket
  route id auftrag bestellung artikel charge menge lagerplatz lieferschein sendung
`);
/** Words between a label and its number (`order no. 123`, `SKU number is 123`). */
const FILLER_WORDS = wordSet('no nr num number is was code');
/** Words that say a phone number follows; they win over an identifier label nearby. */
const PHONE_LABELS = wordSet('tel phone telephone mobile mob cell fax call whatsapp sms handy telefon mobil');
/** Words that say a payment card number follows. */
const CARD_LABELS = wordSet('card visa mastercard amex credit debit cc pan karte kreditkarte');

/** How far back labels are looked for: a few short words. */
const LABEL_LOOKBACK_CHARS = 64;
const LABEL_LOOKBACK_WORDS = 3;

/** The (up to three) lower-cased words before `start`, nearest first; digits-only words count as words. */
function wordsBefore(text: string, start: number): string[] {
  const window = text.slice(Math.max(0, start - LABEL_LOOKBACK_CHARS), start);
  const words = window.match(/[\p{L}\p{N}]+/gu) ?? [];
  return words
    .slice(-LABEL_LOOKBACK_WORDS)
    .reverse()
    .map((word) => word.toLowerCase());
}

/** True when the nearest meaningful word before the number names an identifier and no `override` label is near. */
function labelledAsIdentifier(text: string, start: number, override: ReadonlySet<string>): boolean {
  const words = wordsBefore(text, start);
  if (words.some((word) => override.has(word))) return false;
  const nearest = words.find((word) => !FILLER_WORDS.has(word));
  return nearest !== undefined && IDENTIFIER_LABELS.has(nearest);
}

/** GS1 check digit (GTIN-8/12/13/14, SSCC-18): how product and logistics codes end. */
function hasGs1CheckDigit(digits: string): boolean {
  let sum = 0;
  for (let index = digits.length - 2, weight = 3; index >= 0; index -= 1, weight = 4 - weight) sum += Number(digits[index]) * weight;
  return (10 - (sum % 10)) % 10 === Number(digits[digits.length - 1]);
}

/** A bare run of 13, 14 or 18 digits with a valid GS1 check digit is a GTIN-13/14 or SSCC: a product or pallet, not a person. */
function isGs1Code(digits: string, bare: boolean): boolean {
  return bare && (digits.length === 13 || digits.length === 14 || digits.length === 18) && hasGs1CheckDigit(digits);
}

// ---------------------------------------------------------------------------------------------
// Digit runs (phone and card candidates)

interface DigitGroup {
  start: number;
  end: number;
  digits: string;
  /** The separator characters between the previous group and this one. */
  separator: string;
}

interface DigitRun {
  start: number;
  groups: DigitGroup[];
  /** The run opened with `+` (international format). */
  plus: boolean;
}

/**
 * Walks the text once and yields maximal runs of digit groups joined by short separators (from
 * `separators`, at most `maxSeparator` characters between two groups), that are not glued to a
 * code. Each character is looked at a bounded number of times.
 */
function* digitRuns(text: string, separators: string, maxSeparator: number, allowOpeners: boolean): Generator<DigitRun> {
  let index = 0;
  while (index < text.length) {
    const char = text[index]!;
    const opener = allowOpeners && (char === '+' || char === '(') && isDigit(text[index + 1]);
    if (!opener && !isDigit(char)) {
      index += 1;
      continue;
    }
    const start = index;
    const plus = char === '+';
    if (opener) index += 1;
    const groups: DigitGroup[] = [];
    let separator = char === '(' ? '(' : '';
    for (;;) {
      const groupStart = index;
      while (isDigit(text[index])) index += 1;
      groups.push({ start: groupStart, end: index, digits: text.slice(groupStart, index), separator });
      let next = index;
      while (next < text.length && next - index < maxSeparator && separators.includes(text[next]!)) next += 1;
      if (next === index || !isDigit(text[next])) break;
      separator = text.slice(index, next);
      index = next;
    }
    // A run whose last group is glued to a code (`030 1234567 12-03A`) keeps the groups before it.
    if (gluedAfter(text, index)) groups.pop();
    if (groups.length > 0 && !gluedBefore(text, start)) yield { start, groups, plus };
  }
}

// ---------------------------------------------------------------------------------------------
// Phones

const PHONE_SEPARATORS = ' \u00a0-./()';
const PHONE_MIN_DIGITS = 7;
/** E.164 allows 15 digits; `00` in front of the country code makes 17. */
const PHONE_MAX_DIGITS = 17;
const PHONE_MAX_GROUPS = 6;
/** Validations a text of n characters may spend: enough for any real message; hostile digit soup beyond it is masked without asking. */
const PHONE_VALIDATIONS_BASE = 200;
const PHONE_VALIDATIONS_PER_CHARS = 100;
const DATE_LIKE = /^(?:\d{4}[-./ ]\d{1,2}[-./ ]\d{1,2}|\d{1,2}[-./ ]\d{1,2}[-./ ]\d{2,4})$/;

function findPhones(text: string, region: CountryCode): Span[] {
  const spans: Span[] = [];
  let budget = PHONE_VALIDATIONS_BASE + Math.floor(text.length / PHONE_VALIDATIONS_PER_CHARS);
  const verdicts = new Map<string, boolean>();
  const isPhone = (candidate: string): boolean => {
    const known = verdicts.get(candidate);
    if (known !== undefined) return known;
    if (budget <= 0) return true;
    budget -= 1;
    const international = candidate.startsWith('00') ? `+${candidate.slice(2)}` : candidate;
    const verdict = parsePhoneNumberFromString(international, region, phoneMetadata)?.isValid() ?? false;
    verdicts.set(candidate, verdict);
    return verdict;
  };

  for (const run of digitRuns(text, PHONE_SEPARATORS, 3, true)) {
    const { groups } = run;
    let first = 0;
    while (first < groups.length) {
      const found = phoneFrom(text, run, first, isPhone);
      if (found) {
        spans.push(found.span);
        first = found.last + 1;
      } else first += 1;
    }
  }
  return spans;
}

/** The longest phone number starting at group `first` of the run (if it may start there at all). */
function phoneFrom(
  text: string,
  run: DigitRun,
  first: number,
  isPhone: (candidate: string) => boolean,
): { span: Span; last: number } | null {
  const { groups } = run;
  const group = groups[first]!;
  const opensWithParenthesis = group.separator.includes('(');
  // A number starts the run, or opens with a parenthesis or a trunk/international 0 (`030`, `0049`).
  if (first > 0 && !opensWithParenthesis && !group.digits.startsWith('0')) return null;
  const start =
    first === 0 ? run.start : opensWithParenthesis ? group.start - group.separator.length + group.separator.indexOf('(') : group.start;
  const plus = first === 0 && run.plus;
  for (let last = Math.min(groups.length, first + PHONE_MAX_GROUPS) - 1; last >= first; last -= 1) {
    const window = groups.slice(first, last + 1);
    const digits = window.map((part) => part.digits).join('');
    if (digits.length < PHONE_MIN_DIGITS || digits.length > PHONE_MAX_DIGITS) continue;
    const written = text.slice(group.start, groups[last]!.end);
    if (isGs1Code(digits, window.length === 1 && !plus) || (!plus && DATE_LIKE.test(written))) continue;
    const candidate = (plus ? '+' : '') + (opensWithParenthesis ? '(' : '') + written;
    if (!isPhone(candidate)) continue;
    if (labelledAsIdentifier(text, start, PHONE_LABELS)) return null;
    const closes = text[groups[last]!.end] === ')' && unclosedParenthesis(text.slice(start, groups[last]!.end));
    const end = closes ? groups[last]!.end + 1 : groups[last]!.end;
    return { span: { start, end, kind: 'phone' }, last };
  }
  return null;
}

function unclosedParenthesis(written: string): boolean {
  let open = 0;
  for (const char of written) open += char === '(' ? 1 : char === ')' ? -1 : 0;
  return open > 0;
}

// ---------------------------------------------------------------------------------------------
// Payment cards

const CARD_SEPARATORS = ' -';
const CARD_MIN_DIGITS = 13;
const CARD_MAX_DIGITS = 19;
/** Card numbers are printed in groups of 3 to 6 digits (4-4-4-4, Amex 4-6-5, 4-4-4-4-3), or as one run. */
const CARD_MIN_GROUP = 3;
/** ISO/IEC 7812 major industry identifiers of payment cards: 2 (Mastercard, Mir), 3 (Amex, JCB, Diners), 4 (Visa), 5, 6. */
const CARD_FIRST_DIGITS = '23456';

function findCards(text: string): Span[] {
  const spans: Span[] = [];
  for (const run of digitRuns(text, CARD_SEPARATORS, 1, false)) {
    const { groups } = run;
    let first = 0;
    while (first < groups.length) {
      const last = cardFrom(text, groups, first);
      if (last === null) {
        first += 1;
        continue;
      }
      spans.push({ start: groups[first]!.start, end: groups[last]!.end, kind: 'card' });
      first = last + 1;
    }
  }
  return spans;
}

function cardFrom(text: string, groups: DigitGroup[], first: number): number | null {
  if (!CARD_FIRST_DIGITS.includes(groups[first]!.digits[0]!)) return null;
  let digits = '';
  let longest: number | null = null;
  for (let last = first; last < groups.length; last += 1) {
    const group = groups[last]!;
    if (group.digits.length < CARD_MIN_GROUP) break;
    digits += group.digits;
    if (digits.length > CARD_MAX_DIGITS) break;
    if (digits.length >= CARD_MIN_DIGITS && validator.isLuhnNumber(digits) && !isGs1Code(digits, last === first)) longest = last;
  }
  if (longest === null || labelledAsIdentifier(text, groups[first]!.start, CARD_LABELS)) return null;
  return longest;
}

// ---------------------------------------------------------------------------------------------
// IBANs

const IBAN_LENGTHS: ReadonlyMap<string, number> = new Map(
  Object.entries(getCountrySpecifications()).flatMap(([country, spec]) => (spec.chars ? [[country, spec.chars] as const] : [])),
);
const IBAN_START = /[A-Za-z]{2}[0-9]{2}/y;
const ALNUM = /[A-Za-z0-9]/;

/** IBANs written compact (`DE89370400440532013000`) or in groups (`DE89 3704 0044 0532 0130 00`), checked by their mod-97 checksum. */
function findIbans(text: string): Span[] {
  const spans: Span[] = [];
  let index = 0;
  while (index < text.length - 3) {
    IBAN_START.lastIndex = index;
    const length = IBAN_START.test(text) ? IBAN_LENGTHS.get(text.slice(index, index + 2).toUpperCase()) : undefined;
    if (length === undefined || isWordChar(charBefore(text, index))) {
      index += 1;
      continue;
    }
    const end = ibanEnd(text, index, length);
    if (end === null) {
      index += 1;
      continue;
    }
    spans.push({ start: index, end, kind: 'iban' });
    index = end;
  }
  return spans;
}

/** Where an IBAN of `length` characters starting at `start` ends, allowing one space or dash between characters; null if none does. */
function ibanEnd(text: string, start: number, length: number): number | null {
  let compact = '';
  let index = start;
  while (compact.length < length && index < text.length) {
    const char = text[index]!;
    if (ALNUM.test(char)) {
      compact += char;
      index += 1;
    } else if ((char === ' ' || char === '-') && compact.length > 0 && ALNUM.test(text[index + 1] ?? '')) index += 1;
    else break;
  }
  if (compact.length !== length || isWordChar(charAt(text, index))) return null;
  return isValidIBAN(compact.toUpperCase()) ? index : null;
}

// ---------------------------------------------------------------------------------------------
// E-mail addresses

const LOCAL_CHAR = /[\p{L}\p{N}\p{M}._%+'-]/u;
const DOMAIN_CHAR = /[\p{L}\p{N}\p{M}.-]/u;
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;
/** A cheap first check before validator's: the domain ends in a dot and a top-level domain of letters. */
const HAS_TLD = /\.\p{L}{2,63}$/u;

/**
 * Around every `@`: the local part to its left and the domain to its right (each character is
 * walked at most twice: walks stop at the next `@`), then checked by validator's isEmail.
 */
function findEmails(text: string): Span[] {
  const spans: Span[] = [];
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
    let start = at;
    while (start > 0 && LOCAL_CHAR.test(text[start - 1]!)) start -= 1;
    while (start < at && text[start] === '.') start += 1;
    let end = at + 1;
    while (end < text.length && DOMAIN_CHAR.test(text[end]!)) end += 1;
    while (end > at + 1 && (text[end - 1] === '.' || text[end - 1] === '-')) end -= 1;
    const local = at - start;
    const domain = end - at - 1;
    if (local === 0 || local > MAX_LOCAL || domain === 0 || domain > MAX_DOMAIN || !HAS_TLD.test(text.slice(at + 1, end))) continue;
    if (validator.isEmail(text.slice(start, end), { allow_utf8_local_part: true, require_tld: true }))
      spans.push({ start, end, kind: 'email' });
  }
  return spans;
}

// ---------------------------------------------------------------------------------------------
// The person's own names

/** Name parts shorter than this (initials) are not masked on their own. */
const MIN_NAME_PART = 2;
const MAX_NAMES = 50;

interface CompiledNames {
  pattern: RegExp | null;
  /** The e-mail addresses given among the names, masked wherever they appear (even where isEmail disagrees: `olga@localhost`). */
  addresses: RegExp | null;
}

/**
 * One case-insensitive, Unicode-aware pattern for the full names and each of their parts
 * (longest first, so `Olga Petrova` is one `[name]`), bounded by non-letters on both sides.
 */
function compileNames(names: readonly string[]): CompiledNames {
  const addresses = new Set<string>();
  const variants = new Set<string>();
  for (const raw of names.slice(0, MAX_NAMES)) {
    const name = raw.normalize('NFC').trim();
    if (name.length === 0) continue;
    if (name.includes('@')) {
      addresses.add(escapeRegExp(name));
      continue;
    }
    const parts = name.split(/[\s,]+/u).filter((part) => [...part].length >= MIN_NAME_PART);
    for (const variant of [name, ...parts]) {
      if ([...variant].length < MIN_NAME_PART) continue;
      variants.add(variant);
      variants.add(variant.normalize('NFD'));
    }
  }
  const alternatives = [...variants]
    .sort((a, b) => b.length - a.length)
    .map((variant) => variant.split(/\s+/u).map(escapeRegExp).join('\\s+'));
  return {
    pattern:
      alternatives.length > 0
        ? new RegExp(`(?<![\\p{L}\\p{N}\\p{M}_])(?:${alternatives.join('|')})(?![\\p{L}\\p{N}\\p{M}_])`, 'giu')
        : null,
    addresses: addresses.size > 0 ? new RegExp([...addresses].join('|'), 'giu') : null,
  };
}

function findNames(text: string, names: CompiledNames): Span[] {
  const spans: Span[] = [];
  for (const [pattern, kind] of [
    [names.pattern, 'name'],
    [names.addresses, 'email'],
  ] as const) {
    if (pattern) for (const match of text.matchAll(pattern)) spans.push({ start: match.index, end: match.index + match[0].length, kind });
  }
  return spans;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
