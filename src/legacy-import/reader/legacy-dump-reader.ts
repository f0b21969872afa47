import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { USER_ID_PATTERN } from '../../auth/token-verifier.js';
import { JsonScalar, JsonSyntaxError, JsonTokenHandler, JsonTokenizer, TooLongString } from './json-tokenizer.js';

/**
 * Reads a legacy dump (`chat_backup.json`: user ids mapped to their conversations) as a stream
 * of records, never holding more than one message (or one conversation's own fields) in memory.
 * The shapes it understands, per user (they may differ from one user to the next):
 *
 * - `messages`: `{user: [message, ...]}`, one running conversation per user;
 * - `conversation-list`: `{user: [{conversation_id?, title?, messages: [...]}, ...]}`;
 * - `conversation-map`: `{user: {conversation_id: [message, ...] | {title?, messages: [...]}}}`.
 *
 * Every record carries its JSON path (`$["alice"][2].messages[7]`), so a report can point at it.
 */

export type LegacyShape = 'messages' | 'conversation-list' | 'conversation-map';
export const LEGACY_SHAPES: readonly LegacyShape[] = ['messages', 'conversation-list', 'conversation-map'];

/** Fields of a record as read: scalars, nested values, or a string too long to keep. */
export type LegacyFields = Record<string, unknown>;

/** A legacy conversation, named by its user and a key stable across dumps of the same store. */
export interface LegacyConversationRef {
  userId: string;
  /** `#running` (messages shape), the conversation's id, or `#<index>` in its user's list when it has none. */
  key: string;
  /** Fields of the conversation object read before its messages (title, role...). */
  fields: LegacyFields;
  path: string;
}

export type LegacyRecord =
  | { kind: 'user'; userId: string; shape: LegacyShape; path: string }
  | { kind: 'message'; conversation: LegacyConversationRef; fields: LegacyFields; path: string }
  /** The conversation's messages are all read; `fields` has every field of its object (also those after the messages). */
  | { kind: 'conversation-end'; conversation: LegacyConversationRef; fields: LegacyFields }
  | { kind: 'rejected'; path: string; reason: string; userId?: string };

export interface LegacyReaderLimits {
  /** Longest string kept (longer ones are reported with their length). */
  maxStringLength: number;
  /** Most characters of a record's fields besides two strings of the longest kept length (nested metadata and the like). */
  maxFieldsSize: number;
}

/** The dump cannot be read any further (bad JSON, or not an object of users). */
export class LegacyDumpError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'LegacyDumpError';
  }
}

const CONVERSATION_KEY_MAX_LENGTH = 256;
/** What a Python service writes for a missing id (`str(None)`, json.dump of a None key). */
const NO_ID = new Set(['None', 'null', 'undefined', 'NaN']);

type Segment = string | number;

/** A value being assembled (a message's fields, or a nested value inside them). */
interface Builder {
  container: Record<string, unknown> | unknown[];
  pendingKey: string | null;
}

type Frame =
  | { kind: 'root'; pendingKey: string | null }
  | { kind: 'skip'; depth: number }
  | { kind: 'user-list'; userId: string; index: number; running: LegacyConversationRef | null }
  | { kind: 'user-map'; userId: string; pendingKey: string | null; index: number }
  /** An object in a user's list: a message, unless a `messages` list shows it is a conversation. */
  | { kind: 'element'; userId: string; index: number; path: string; record: RecordBuilder }
  | { kind: 'conversation'; conversation: LegacyConversationRef; record: RecordBuilder; seenMessages: boolean }
  | { kind: 'messages'; conversation: LegacyConversationRef; owner: 'conversation' | 'map'; index: number }
  | { kind: 'message'; conversation: LegacyConversationRef; path: string; record: RecordBuilder };

/** The fields of one object, with nested values assembled under a size budget. */
class RecordBuilder {
  readonly fields: LegacyFields = {};
  pendingKey: string | null = null;
  nested: Builder[] = [];
  size = 0;
  overBudget = false;
}

export class LegacyDumpReader implements JsonTokenHandler {
  private readonly tokenizer: JsonTokenizer;
  private readonly frames: Frame[] = [];
  private readonly segments: Segment[] = [];
  private out: LegacyRecord[] = [];

  constructor(private readonly limits: LegacyReaderLimits) {
    this.tokenizer = new JsonTokenizer(this, limits.maxStringLength);
  }

  /**
   * The records of a dump, as they are read; where it cannot go on, the records read before are
   * handed out first, then a LegacyDumpError is thrown.
   */
  static async *read(input: Readable, limits: LegacyReaderLimits): AsyncGenerator<LegacyRecord> {
    const reader = new LegacyDumpReader(limits);
    const decoder = new StringDecoder('utf8');
    let first = true;
    for await (const chunk of input) {
      let text = typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer);
      // A byte order mark (Windows editors write one) is not part of the JSON.
      if (first && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
      yield* reader.step(() => reader.tokenizer.write(text));
    }
    yield* reader.step(() => reader.tokenizer.write(decoder.end()));
    yield* reader.step(() => reader.tokenizer.end());
  }

  private *step(work: () => void): Generator<LegacyRecord> {
    let failure: Error | null = null;
    try {
      work();
    } catch (error) {
      failure = this.translate(error);
    }
    yield* this.drain();
    if (failure) throw failure;
  }

  private drain(): LegacyRecord[] {
    const records = this.out;
    this.out = [];
    return records;
  }

  private translate(error: unknown): Error {
    if (error instanceof JsonSyntaxError) return new LegacyDumpError(`${error.message} (reading ${this.path()})`, this.path());
    return error as Error;
  }

  // --- tokens --------------------------------------------------------------------------------

  startObject(): void {
    this.startContainer('object');
  }

  startArray(): void {
    this.startContainer('array');
  }

  endObject(): void {
    this.endContainer();
  }

  endArray(): void {
    this.endContainer();
  }

  key(name: string | TooLongString): void {
    const frame = this.frames.at(-1);
    const key = name instanceof TooLongString ? `(a key of ${name.length} characters)` : name;
    if (!frame) return;
    if (frame.kind === 'skip') return;
    if (frame.kind === 'root' || frame.kind === 'user-map') frame.pendingKey = key;
    else if (frame.kind === 'element' || frame.kind === 'conversation' || frame.kind === 'message') {
      const record = frame.record;
      const nested = record.nested.at(-1);
      if (nested) nested.pendingKey = key;
      else record.pendingKey = key;
      record.size += key.length;
    }
  }

  value(value: JsonScalar): void {
    const frame = this.frames.at(-1);
    if (!frame) {
      throw new LegacyDumpError(`the dump must be a JSON object mapping user ids to their conversations; found ${kindOf(value)}`, '$');
    }
    switch (frame.kind) {
      case 'skip':
        return;
      case 'root': {
        const userId = this.takeKey(frame);
        this.reject(
          this.childPath(userId),
          `expected a list of messages or conversations, or an object of conversations; found ${kindOf(value)}`,
          userId,
        );
        return;
      }
      case 'user-list': {
        const index = frame.index++;
        this.reject(this.childPath(index), `expected a message or conversation object; found ${kindOf(value)}`, frame.userId);
        return;
      }
      case 'user-map': {
        const key = this.takeKey(frame);
        frame.index += 1;
        this.reject(this.childPath(key), `expected a list of messages or a conversation object; found ${kindOf(value)}`, frame.userId);
        return;
      }
      case 'messages': {
        const index = frame.index++;
        this.reject(this.childPath(index), `expected a message object; found ${kindOf(value)}`, frame.conversation.userId);
        return;
      }
      case 'element':
      case 'conversation':
      case 'message':
        this.addField(frame.record, value);
    }
  }

  // --- structure -----------------------------------------------------------------------------

  private startContainer(type: 'object' | 'array'): void {
    const frame = this.frames.at(-1);
    if (!frame) {
      if (type !== 'object') {
        throw new LegacyDumpError('the dump must be a JSON object mapping user ids to their conversations; found a list', '$');
      }
      this.frames.push({ kind: 'root', pendingKey: null });
      return;
    }
    switch (frame.kind) {
      case 'skip':
        frame.depth += 1;
        return;
      case 'root':
        return this.startUser(this.takeKey(frame), type);
      case 'user-list': {
        const index = frame.index++;
        this.segments.push(index);
        if (type === 'array') return this.skip(`expected a message or conversation object; found a list`, frame.userId);
        this.frames.push({ kind: 'element', userId: frame.userId, index, path: this.path(), record: new RecordBuilder() });
        return;
      }
      case 'user-map': {
        const key = this.takeKey(frame);
        frame.index += 1;
        this.segments.push(key);
        const problem = conversationKeyProblem(key);
        if (problem) return this.skip(problem, frame.userId);
        const conversation: LegacyConversationRef = { userId: frame.userId, key, fields: {}, path: this.path() };
        if (type === 'array') this.frames.push({ kind: 'messages', conversation, owner: 'map', index: 0 });
        else this.frames.push({ kind: 'conversation', conversation, record: new RecordBuilder(), seenMessages: false });
        return;
      }
      case 'messages': {
        const index = frame.index++;
        this.segments.push(index);
        if (type === 'array') return this.skip('expected a message object; found a list', frame.conversation.userId);
        this.frames.push({
          kind: 'message',
          conversation: frame.conversation,
          path: this.path(),
          record: new RecordBuilder(),
        });
        return;
      }
      case 'element':
      case 'conversation':
      case 'message':
        return this.startField(frame, type);
    }
  }

  private startUser(userId: string, type: 'object' | 'array'): void {
    this.segments.push(userId);
    const problem = userIdProblem(userId);
    if (problem) return this.skip(problem, userId);
    const path = this.path();
    if (type === 'array') {
      this.frames.push({ kind: 'user-list', userId, index: 0, running: null });
      // A list's shape shows in its first object: told when the first record is.
      return;
    }
    this.frames.push({ kind: 'user-map', userId, pendingKey: null, index: 0 });
    this.out.push({ kind: 'user', userId, shape: 'conversation-map', path });
  }

  /** A container inside an object being read: a conversation's message list, or a nested value. */
  private startField(frame: Extract<Frame, { record: RecordBuilder }>, type: 'object' | 'array'): void {
    const record = frame.record;
    if (record.nested.length === 0 && record.pendingKey === 'messages' && type === 'array' && frame.kind !== 'message') {
      record.pendingKey = null;
      if (frame.kind === 'element') {
        // A `messages` list: this object of the user's list is a conversation.
        const id = conversationIdOf(record.fields);
        const key = id ?? `#${frame.index}`;
        const conversation: LegacyConversationRef = { userId: frame.userId, key, fields: { ...record.fields }, path: frame.path };
        this.noteShape(frame.userId, 'conversation-list', frame.path);
        const problem = id === undefined ? null : conversationKeyProblem(id);
        this.frames[this.frames.length - 1] = { kind: 'conversation', conversation, record, seenMessages: true };
        this.segments.push('messages');
        if (problem) return this.skip(problem, frame.userId);
        this.frames.push({ kind: 'messages', conversation, owner: 'conversation', index: 0 });
        return;
      }
      if (frame.kind === 'conversation' && !frame.seenMessages) {
        frame.seenMessages = true;
        frame.conversation.fields = { ...record.fields };
        this.segments.push('messages');
        this.frames.push({ kind: 'messages', conversation: frame.conversation, owner: 'conversation', index: 0 });
        return;
      }
    }
    const container: Builder['container'] = type === 'array' ? [] : {};
    this.addField(record, container);
    record.nested.push({ container, pendingKey: null });
  }

  private endContainer(): void {
    const frame = this.frames.at(-1);
    if (!frame) return;
    switch (frame.kind) {
      case 'skip':
        if (frame.depth > 0) {
          frame.depth -= 1;
          return;
        }
        this.frames.pop();
        this.segments.pop();
        return;
      case 'root':
        this.frames.pop();
        return;
      case 'user-list':
      case 'user-map':
        if (frame.kind === 'user-list' && frame.running)
          this.out.push({ kind: 'conversation-end', conversation: frame.running, fields: {} });
        this.frames.pop();
        this.segments.pop();
        return;
      case 'messages': {
        this.frames.pop();
        this.segments.pop();
        if (frame.owner === 'map') this.out.push({ kind: 'conversation-end', conversation: frame.conversation, fields: {} });
        return;
      }
      case 'element':
      case 'conversation':
      case 'message': {
        if (frame.record.nested.length > 0) {
          frame.record.nested.pop();
          return;
        }
        this.frames.pop();
        this.segments.pop();
        this.endRecord(frame);
      }
    }
  }

  private endRecord(frame: Extract<Frame, { record: RecordBuilder }>): void {
    const { record } = frame;
    if (frame.kind === 'conversation') {
      if (!frame.seenMessages) {
        this.reject(frame.conversation.path, 'a conversation object needs a "messages" list', frame.conversation.userId);
        return;
      }
      this.out.push({ kind: 'conversation-end', conversation: frame.conversation, fields: record.fields });
      return;
    }
    if (frame.kind === 'element') {
      // An object of the user's list without a `messages` list: a message of their running conversation.
      const parent = this.frames.at(-1);
      if (parent?.kind !== 'user-list') return;
      if (!parent.running) {
        parent.running = { userId: frame.userId, key: '#running', fields: {}, path: this.path() };
        this.noteShape(frame.userId, 'messages', parent.running.path);
      }
      this.emitMessage(parent.running, frame.path, record);
      return;
    }
    this.emitMessage(frame.conversation, frame.path, record);
  }

  private emitMessage(conversation: LegacyConversationRef, path: string, record: RecordBuilder): void {
    if (record.overBudget) {
      this.reject(
        path,
        `too large: over ${2 * this.limits.maxStringLength + this.limits.maxFieldsSize} characters in all`,
        conversation.userId,
      );
      return;
    }
    this.out.push({ kind: 'message', conversation, fields: record.fields, path });
  }

  /** The shapes told of the user being read (a user's records are together: nothing grows with the users). */
  private shapesTold: { userId: string; shapes: Set<LegacyShape> } = { userId: '', shapes: new Set() };

  /** Tells a user's shape once, with their first record of it. */
  private noteShape(userId: string, shape: LegacyShape, path: string): void {
    if (this.shapesTold.userId !== userId) this.shapesTold = { userId, shapes: new Set() };
    if (this.shapesTold.shapes.has(shape)) return;
    this.shapesTold.shapes.add(shape);
    this.out.push({ kind: 'user', userId, shape, path: pathOfUser(path) });
  }

  private addField(record: RecordBuilder, value: unknown): void {
    // A record may hold two texts of the longest kept length (a question and its answer) and
    // small fields besides; a string too long to keep costs nothing (the message rules refuse it).
    record.size += typeof value === 'string' ? value.length : 8;
    if (record.size > 2 * this.limits.maxStringLength + this.limits.maxFieldsSize) record.overBudget = true;
    if (record.overBudget) return;
    const nested = record.nested.at(-1);
    if (nested) {
      if (Array.isArray(nested.container)) nested.container.push(value);
      else if (nested.pendingKey !== null) {
        defineField(nested.container, nested.pendingKey, value);
        nested.pendingKey = null;
      }
      return;
    }
    if (record.pendingKey !== null) {
      defineField(record.fields, record.pendingKey, value);
      record.pendingKey = null;
    }
  }

  private skip(reason: string, userId: string): void {
    this.reject(this.path(), reason, userId);
    this.frames.push({ kind: 'skip', depth: 0 });
  }

  private reject(path: string, reason: string, userId?: string): void {
    this.out.push({ kind: 'rejected', path, reason, ...(userId === undefined ? {} : { userId }) });
  }

  private takeKey(frame: { pendingKey: string | null }): string {
    const key = frame.pendingKey ?? '';
    frame.pendingKey = null;
    return key;
  }

  private path(): string {
    return toPath(this.segments);
  }

  private childPath(segment: Segment): string {
    return toPath([...this.segments, segment]);
  }
}

/** `$["alice"][2].messages[7]`: keys in brackets unless they are plain identifiers. */
function toPath(segments: readonly Segment[]): string {
  let path = '$';
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) path += `.${segment}`;
    else path += `[${JSON.stringify(segment)}]`;
  }
  return path;
}

/** The user's part of a record's path (`$.alice` of `$.alice[3].messages[2]`). */
export function pathOfUser(path: string): string {
  const match = /^\$(\.[A-Za-z_][A-Za-z0-9_]*|\["(?:[^"\\]|\\.)*"\])/.exec(path);
  return match ? match[0] : path;
}

function userIdProblem(userId: string): string | null {
  if (userId.trim() === '') return 'no user id (the key is empty)';
  if (NO_ID.has(userId)) return `no user id (the key is "${userId}", what Python writes for a missing one)`;
  // Only ids a token can carry: anyone else's data could never be read, exported or erased.
  if (!USER_ID_PATTERN.test(userId)) return 'not a user id this service knows (1-128 letters, digits and _ . @ : | -, as in tokens)';
  return null;
}

function conversationKeyProblem(key: string): string | null {
  if (key.trim() === '') return 'no conversation id (the key is empty)';
  if (key.length > CONVERSATION_KEY_MAX_LENGTH) return `the conversation id is over ${CONVERSATION_KEY_MAX_LENGTH} characters`;
  return null;
}

/** The id a conversation object names itself by, if any (a number is used as its text). */
function conversationIdOf(fields: LegacyFields): string | undefined {
  for (const name of ['conversation_id', 'conversationId', 'id', '_id']) {
    const value = fields[name];
    if (typeof value === 'string' && value.trim() !== '' && !NO_ID.has(value)) return value;
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  }
  return undefined;
}

function defineField(target: Record<string, unknown>, key: string, value: unknown): void {
  // Plain data: `__proto__` as a key is a field like any other, never the prototype.
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function kindOf(value: JsonScalar): string {
  if (value === null) return 'null';
  if (value instanceof TooLongString || typeof value === 'string') return 'a string';
  return typeof value === 'number' ? 'a number' : 'a boolean';
}
