import type { MessageType, TokenUsage } from '../../messages/schemas/message.schema.js';
import { isBlank } from '../../common/text/blank.js';
import { metadataProblem } from '../../common/validation/is-safe-metadata.validator.js';
import { findJsonProblem } from '../../common/validation/untrusted-json.js';
import { TooLongString } from './json-tokenizer.js';
import type { LegacyFields } from './legacy-dump-reader.js';

/**
 * One legacy message record made into ours: `{role|type, content|message|text, timestamp, ...}`,
 * or a question paired with its answer (`{query|message, response, ...}`, two messages). Fields
 * it does not map are kept under `metadata.legacy`, so nothing of the record is lost.
 */
export interface LegacyMessage {
  /** 0 for the record's message (or a pair's question), 1 for a pair's answer. */
  part: 0 | 1;
  type: MessageType;
  content: string;
  /** Null when the record has none: the import dates it at the dump's time. */
  timestamp: Date | null;
  tokensUsed?: TokenUsage;
  processingTime?: number;
  metadata: Record<string, unknown>;
}

export type LegacyMessageResult = { messages: LegacyMessage[] } | { reason: string };

const TYPE_FIELDS = ['role', 'type', 'sender', 'author', 'from'];
const CONTENT_FIELDS = ['content', 'message', 'text', 'body'];
const QUESTION_FIELDS = ['query', 'question', 'message', 'prompt', 'user_message'];
const ANSWER_FIELDS = ['response', 'answer', 'reply', 'bot_response'];
const TIME_FIELDS = ['timestamp', 'created_at', 'createdAt', 'time', 'date', 'datetime'];
const TOKEN_FIELDS = ['tokens_used', 'tokensUsed', 'tokens', 'usage'];

const TYPES: Record<string, MessageType> = {
  user: 'user',
  human: 'user',
  customer: 'user',
  client: 'user',
  assistant: 'assistant',
  bot: 'assistant',
  ai: 'assistant',
  agent: 'assistant',
  model: 'assistant',
  chatbot: 'assistant',
  system: 'system',
};

/** `2025-01-31T14:05:09.123Z`, `2025-01-31 14:05:09.123456` (Python's str(datetime)), with or without an offset. */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
/** Epoch numbers below this are seconds (it is in 1973 as milliseconds, in 5138 as seconds). */
const EPOCH_SECONDS_BELOW = 1e11;
const EARLIEST = Date.UTC(1990, 0, 1);
/** Clocks differ: a timestamp up to a day ahead of this machine is taken as it is. */
const FUTURE_TOLERANCE_MS = 24 * 3600 * 1000;

export function toLegacyMessages(fields: LegacyFields, maxMessageLength: number, now: Date): LegacyMessageResult {
  // The rules the API holds every JSON body to: no NUL, no lone surrogate, no control character or prototype name in a key.
  const unsafe = findJsonProblem(fields);
  if (unsafe) return { reason: unsafe.messages.join('; ') };
  const used = new Set<string>();
  const pick = (names: readonly string[]): { name: string; value: unknown } | undefined => {
    for (const name of names) {
      if (Object.hasOwn(fields, name) && fields[name] !== null && fields[name] !== undefined) return { name, value: fields[name] };
    }
    return undefined;
  };
  const take = (names: readonly string[]) => {
    const found = pick(names);
    if (found) used.add(found.name);
    return found;
  };

  const timestamp = take(TIME_FIELDS);
  const time = timestamp === undefined ? null : parseLegacyTime(timestamp.value);
  if (time === undefined) return { reason: `unreadable timestamp in "${timestamp!.name}": ${preview(timestamp!.value)}` };
  if (time && time.getTime() > now.getTime() + FUTURE_TOLERANCE_MS) return { reason: `timestamp ${time.toISOString()} is in the future` };
  if (time && time.getTime() < EARLIEST) return { reason: `timestamp ${time.toISOString()} is before 1990` };

  const tokens = take(TOKEN_FIELDS);
  const tokensUsed = tokens === undefined ? undefined : parseTokens(tokens.value);
  if (tokensUsed === null) return { reason: `unreadable token count in "${tokens!.name}": ${preview(tokens!.value)}` };
  const processingTime = takeProcessingTime(fields, used);
  if (processingTime === null)
    return { reason: 'unreadable processing time (a number of seconds in "processing_time", of milliseconds in "processingTime")' };

  const answer = pick(ANSWER_FIELDS);
  const typeField = pick(TYPE_FIELDS);
  let messages: Omit<LegacyMessage, 'metadata' | 'timestamp'>[];
  if (answer && (typeField === undefined || typeof typeField.value !== 'string' || TYPES[normalise(typeField.value)] === undefined)) {
    // A question and its answer in one record.
    used.add(answer.name);
    const question = take(QUESTION_FIELDS);
    if (question === undefined) return { reason: `"${answer.name}" without a question ("query", "question" or "message")` };
    const asked = checkContent(question.name, question.value, maxMessageLength);
    if (typeof asked !== 'string') return asked;
    const answered = checkContent(answer.name, answer.value, maxMessageLength);
    if (typeof answered !== 'string') return answered;
    messages = [
      { part: 0, type: 'user', content: asked },
      {
        part: 1,
        type: 'assistant',
        content: answered,
        ...(tokensUsed && { tokensUsed }),
        ...(processingTime !== undefined && { processingTime }),
      },
    ];
  } else {
    const kind = take(TYPE_FIELDS);
    if (kind === undefined) return { reason: 'no role: "role" or "type" (user, assistant or system) is required' };
    const type = typeof kind.value === 'string' ? TYPES[normalise(kind.value)] : undefined;
    if (type === undefined) return { reason: `unknown role ${preview(kind.value)} in "${kind.name}" (user, assistant, bot or system)` };
    const content = take(CONTENT_FIELDS);
    if (content === undefined) return { reason: 'no text: "content", "message" or "text" is required' };
    const text = checkContent(content.name, content.value, maxMessageLength);
    if (typeof text !== 'string') return text;
    const replyFacts =
      type === 'assistant' ? { ...(tokensUsed && { tokensUsed }), ...(processingTime !== undefined && { processingTime }) } : {};
    messages = [{ part: 0, type, content: text, ...replyFacts }];
  }

  const metadata = takeMetadata(fields, used);
  const problem = metadataProblem(metadata);
  if (problem) return { reason: `its other fields, kept as the message's metadata, ${problem}` };
  return { messages: messages.map((message) => ({ ...message, timestamp: time, metadata })) };
}

/** A Date, null when there is none, undefined when it cannot be read. */
export function parseLegacyTime(value: unknown): Date | null | undefined {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return fromEpoch(value);
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^-?\d+(\.\d+)?$/.test(text)) return fromEpoch(Number(text));
  const match = DATE_TIME.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone] = match;
  let millis = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
    Number(fraction.padEnd(3, '0').slice(0, 3)),
  );
  // Fields out of range (month 13, 25:00) roll over in Date.UTC: refuse them instead.
  const check = new Date(millis);
  if (check.getUTCMonth() !== Number(month) - 1 || check.getUTCDate() !== Number(day) || check.getUTCHours() !== Number(hour))
    return undefined;
  if (zone && zone.toUpperCase() !== 'Z') {
    const offset = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    const minutes = Number(offset[2]) * 60 + Number(offset[3] ?? 0);
    millis -= (offset[1] === '-' ? -1 : 1) * minutes * 60_000;
  }
  return new Date(millis);
}

function fromEpoch(value: number): Date | undefined {
  if (!Number.isFinite(value) || value < 0) return undefined;
  const millis = Math.abs(value) < EPOCH_SECONDS_BELOW ? value * 1000 : value;
  const date = new Date(Math.round(millis));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A number is the total; an object may give prompt and completion (either naming). Null when unreadable. */
function parseTokens(value: unknown): TokenUsage | null {
  const count = (raw: unknown) => (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? raw : undefined);
  if (typeof value === 'number') {
    const total = count(value);
    return total === undefined ? null : { prompt: 0, completion: 0, total };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  const prompt = count(record.prompt ?? record.prompt_tokens ?? record.promptTokens ?? 0);
  const completion = count(record.completion ?? record.completion_tokens ?? record.completionTokens ?? 0);
  const total = count(record.total ?? record.total_tokens ?? record.totalTokens ?? (prompt ?? 0) + (completion ?? 0));
  if (prompt === undefined || completion === undefined || total === undefined) return null;
  return { prompt, completion, total };
}

/** `processing_time` in seconds (what Python's time.time() differences give), `processingTime` in milliseconds. */
function takeProcessingTime(fields: LegacyFields, used: Set<string>): number | undefined | null {
  for (const [name, scale] of [
    ['processing_time', 1000],
    ['processingTime', 1],
    ['processing_time_ms', 1],
  ] as const) {
    const value = fields[name];
    if (value === undefined || value === null) continue;
    used.add(name);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return null;
    return Math.round(value * scale);
  }
  return undefined;
}

function checkContent(name: string, value: unknown, maxLength: number): string | { reason: string } {
  if (value instanceof TooLongString)
    return { reason: `"${name}" is over ${maxLength} characters (CHAT_MAX_MESSAGE_LENGTH); never cut short` };
  if (typeof value !== 'string') return { reason: `"${name}" is not a text: ${preview(value)}` };
  if (isBlank(value)) return { reason: `"${name}" is empty` };
  let length = 0;
  for (const _ of value) {
    length += 1;
    if (length > maxLength) return { reason: `"${name}" is over ${maxLength} characters (CHAT_MAX_MESSAGE_LENGTH); never cut short` };
  }
  return value;
}

/** The record's own `metadata` object, and every field not mapped under `legacy`. */
function takeMetadata(fields: LegacyFields, used: Set<string>): Record<string, unknown> {
  const own = fields.metadata;
  const metadata: Record<string, unknown> =
    typeof own === 'object' && own !== null && !Array.isArray(own) ? { ...(own as Record<string, unknown>) } : {};
  if (own !== undefined) used.add('metadata');
  const rest: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    if (used.has(name)) continue;
    rest[name] = value instanceof TooLongString ? `(${value.length} characters, not kept)` : value;
  }
  if (own !== undefined && Object.keys(metadata).length === 0 && !(typeof own === 'object' && own !== null && !Array.isArray(own)))
    rest.metadata = own;
  if (Object.keys(rest).length > 0) metadata.legacy = rest;
  return metadata;
}

function normalise(value: string): string {
  return value.trim().toLowerCase();
}

function preview(value: unknown): string {
  if (value instanceof TooLongString) return `(a text of ${value.length} characters)`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
