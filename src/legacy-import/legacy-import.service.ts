import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectConnection } from '@nestjs/mongoose';
import mongoose, { Types } from 'mongoose';
import { AgentsService } from '../agents/agents.service.js';
import { ROLE_NAME_PATTERN } from '../auth/authenticated-user.js';
import type { AppConfig } from '../common/config/app-config.js';
import { AppException, type ErrorBody } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { Lease, Leases } from '../common/jobs/lease.js';
import { metadataProblem } from '../common/validation/is-safe-metadata.validator.js';
import { findJsonProblem } from '../common/validation/untrusted-json.js';
import { AuditLog } from '../compliance/audit/audit-log.service.js';
import { ActiveErasures } from '../compliance/erasure/active-erasures.js';
import { TITLE_MAX_LENGTH } from '../conversations/dto/create-conversation.dto.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import { MessageInput, MessagesService } from '../messages/messages.service.js';
import { LegacyConversationsRepository } from './legacy-conversations.repository.js';
import {
  LegacyConversationRef,
  LegacyDumpError,
  LegacyDumpReader,
  pathOfUser,
  LegacyFields,
  LegacyShape,
} from './reader/legacy-dump-reader.js';
import { LegacyMessage, toLegacyMessages } from './reader/legacy-message.js';
import { METADATA_LIMITS } from '../common/validation/is-safe-metadata.validator.js';

/** What an import did, in messages (ours) and records (the dump's). */
export interface LegacyImportCounts {
  /** Users whose records were read. */
  users: number;
  /** Legacy conversations read to their end. */
  conversations: number;
  /** Message records read (a question paired with its answer is one record, two messages). */
  records: number;
  /** Messages written (in a dry run: that would be written). */
  imported: number;
  /** Messages an earlier import wrote already. */
  alreadyPresent: number;
  /** Messages not written on purpose (an erased user, a conversation deleted here since), each explained in the report. */
  skipped: number;
  /** Records refused (malformed), each with its reason and JSON path in the report. */
  rejected: number;
  /** Our conversations created (a dry run counts those it would create). */
  conversationsCreated: number;
}

export interface LegacyImportReportEntry {
  path: string;
  outcome: 'rejected' | 'skipped';
  reason: string;
}

export interface LegacyImportOptions {
  /** Validates and counts, writes nothing. */
  dryRun: boolean;
  /** The WMS role of conversations that name none (or one without an agent here). */
  defaultRole: string;
  /** When the dump was taken: the time of messages that have none. */
  dumpedAt: Date;
  /** Receives every rejected and skipped record, in order. */
  report(entry: LegacyImportReportEntry): void | Promise<void>;
  /** Called now and then (after a batch, at most about once a second) with the counts so far. */
  onProgress?(counts: Readonly<LegacyImportCounts>): void;
  signal?: AbortSignal;
}

export interface LegacyImportResult {
  counts: LegacyImportCounts;
  /** The shapes found (see LegacyDumpReader). */
  shapes: LegacyShape[];
  /** False when the dump could not be read to its end (`error` says where and why). */
  complete: boolean;
  error: string | null;
}

/** Another import holds the lease. */
export class LegacyImportBusyError extends Error {
  constructor(readonly holder: string | null) {
    super(`another legacy import is running${holder ? ` (${holder})` : ''}; try again when it has finished`);
    this.name = 'LegacyImportBusyError';
  }
}

export class LegacyImportRoleError extends Error {}

/** Messages written together into one conversation. */
const BATCH_SIZE = 200;
const LEASE = 'legacy-import';
const LEASE_TTL_MS = 5 * 60_000;
const PROGRESS_EVERY_MS = 1000;
/** Fields of a conversation object the import maps (the rest goes to its metadata). */
const CONVERSATION_ID_FIELDS = ['conversation_id', 'conversationId', 'id', '_id'];
const TITLE_FIELDS = ['title', 'name', 'subject'];
const ROLE_FIELDS = ['role', 'user_role', 'wms_role', 'agent_role'];

interface PendingMessage {
  key: string;
  path: string;
  message: LegacyMessage;
}

interface UserState {
  userId: string;
  hash: string;
  /** Why none of this user's records are imported, if so. */
  blocked: string | null;
  path: string;
}

interface ConversationState {
  ref: LegacyConversationRef;
  ledgerKey: string;
  parts: Types.ObjectId[] | null;
  /** Why its remaining messages are skipped, once known. */
  closed: string | null;
}

/**
 * Imports the legacy store's dump (`chat_backup.json`) through the same services as live
 * traffic: conversations and messages get their search terms, counts and seq order, and a
 * conversation over CHAT_MAX_MESSAGES_PER_CONVERSATION continues in further parts. Every message
 * gets a stable key (a keyed hash of user, legacy conversation, what it is, and how many identical
 * ones came before it there), unique among our messages: importing the dump again, grown or not,
 * or after an interruption, writes only what is not there yet. Users erased or anonymised here
 * are never imported again.
 */
@Injectable()
export class LegacyImportService {
  private readonly logger = new Logger(LegacyImportService.name);
  private readonly maxMessageLength: number;
  private readonly maxMessages: number;

  constructor(
    @InjectConnection() private readonly connection: mongoose.Connection,
    private readonly conversations: ConversationsService,
    private readonly messages: MessagesService,
    private readonly agents: AgentsService,
    private readonly ledger: LegacyConversationsRepository,
    private readonly audit: AuditLog,
    private readonly erasures: ActiveErasures,
    config: ConfigService<AppConfig, true>,
  ) {
    const chat = config.get('chat', { infer: true });
    this.maxMessageLength = chat.maxMessageLength;
    this.maxMessages = chat.maxMessagesPerConversation;
  }

  async import(input: Readable, options: LegacyImportOptions): Promise<LegacyImportResult> {
    const deps: ImportDependencies = {
      conversations: this.conversations,
      messages: this.messages,
      hasAgent: (role) => this.hasAgent(role),
      ledger: this.ledger,
      audit: this.audit,
      erasures: this.erasures,
      maxMessageLength: this.maxMessageLength,
      maxMessages: this.maxMessages,
    };
    const run = new ImportRun(deps, options);
    if (!(await run.hasAgent(options.defaultRole))) {
      throw new LegacyImportRoleError(
        `the default role "${options.defaultRole}" has no agent here: name a role an agent serves (GET /api/v1/chat/agents)`,
      );
    }
    const lease = options.dryRun ? null : await this.takeLease();
    try {
      return await run.run(input, lease);
    } finally {
      await lease
        ?.release()
        .catch((error: unknown) => this.logger.warn({ err: error }, 'legacy import: lease not released (it expires by itself)'));
    }
  }

  /** Whether conversations of the role can be created here (an agent serves it). */
  async hasAgent(role: string): Promise<boolean> {
    if (!ROLE_NAME_PATTERN.test(role)) return false;
    try {
      await this.agents.chooseForConversation({ id: 'legacy-import', roles: [role] }, { role });
      return true;
    } catch (error) {
      if (error instanceof AppException) return false;
      throw error;
    }
  }

  private async takeLease(): Promise<Lease> {
    const db = this.connection.db;
    if (!db) throw new Error('not connected to MongoDB');
    const leases = new Leases(db);
    const lease = await leases.tryAcquire(LEASE, LEASE_TTL_MS);
    if (!lease) {
      const holder = await leases.holder(LEASE);
      throw new LegacyImportBusyError(holder ? `${holder.owner}, until ${holder.expiresAt.toISOString()} unless renewed` : null);
    }
    return lease;
  }
}

interface ImportDependencies {
  conversations: ConversationsService;
  messages: MessagesService;
  hasAgent(role: string): Promise<boolean>;
  ledger: LegacyConversationsRepository;
  audit: AuditLog;
  erasures: ActiveErasures;
  maxMessageLength: number;
  maxMessages: number;
}

/** One run of an import: reads the dump, batches messages per conversation, and writes them. */
class ImportRun {
  private readonly counts: LegacyImportCounts = {
    users: 0,
    conversations: 0,
    records: 0,
    imported: 0,
    alreadyPresent: 0,
    skipped: 0,
    rejected: 0,
    conversationsCreated: 0,
  };
  private readonly shapes = new Set<LegacyShape>();
  private user: UserState | null = null;
  private conversation: ConversationState | null = null;
  private batch: PendingMessage[] = [];
  private lastProgress = 0;
  private lastRenewal = Date.now();
  private lastReported = '';
  private readonly roles = new Map<string, boolean>();
  /** Per conversation of the user being read: how many messages of each fingerprint came so far. */
  private readonly occurrences = new Map<LegacyConversationRef, Map<string, number>>();

  private lease: Lease | null = null;

  constructor(
    private readonly deps: ImportDependencies,
    private readonly options: LegacyImportOptions,
  ) {}

  async run(input: Readable, lease: Lease | null): Promise<LegacyImportResult> {
    this.lease = lease;
    // Two UTF-16 units a character at most: a longer string is over the limit whatever it holds.
    const limits = { maxStringLength: 2 * this.deps.maxMessageLength, maxFieldsSize: METADATA_LIMITS.maxBytes };
    let error: string | null = null;
    try {
      for await (const record of LegacyDumpReader.read(input, limits)) {
        this.options.signal?.throwIfAborted();
        switch (record.kind) {
          case 'user':
            this.shapes.add(record.shape);
            await this.enterUser(record.userId, record.path);
            break;
          case 'rejected':
            if (record.userId !== undefined) await this.enterUser(record.userId, record.path);
            await this.problem('rejected', record.path, record.reason);
            this.counts.rejected += 1;
            break;
          case 'message':
            await this.message(record.conversation, record.fields, record.path);
            break;
          case 'conversation-end':
            await this.endConversation(record.conversation, record.fields);
        }
        // Also through long stretches of refused records, which write nothing.
        await this.progress();
      }
      await this.flush();
    } catch (failure) {
      if (!(failure instanceof LegacyDumpError)) throw failure;
      // What was read before the bad part is valid: it is written, and the rest is reported.
      await this.flush();
      error = `${failure.message}; nothing after it was read`;
      await this.problem('rejected', failure.path, error);
      this.counts.rejected += 1;
    }
    this.options.onProgress?.(this.counts);
    return { counts: { ...this.counts }, shapes: [...this.shapes], complete: error === null, error };
  }

  private async enterUser(userId: string, path: string): Promise<void> {
    if (this.user?.userId === userId) return;
    await this.flush();
    this.counts.users += 1;
    this.occurrences.clear();
    const hash = await this.deps.audit.userIdHash(userId);
    this.user = { userId, hash, path: pathOfUser(path), blocked: await this.blockedReason(userId) };
  }

  /** Why none of the user's records may be imported: they were erased or anonymised here. */
  private async blockedReason(userId: string): Promise<string | null> {
    const erasure = await this.deps.erasures.erasedOrInProgress(userId);
    if (!erasure) return null;
    const what = erasure.mode === 'erase' ? 'erased' : 'anonymised';
    return erasure.state === 'done'
      ? `the user was ${what} here (${erasure.startedAt.toISOString().slice(0, 10)}): their legacy records are never imported again`
      : `the user is being ${what} here: their legacy records are not imported`;
  }

  private async message(ref: LegacyConversationRef, fields: LegacyFields, path: string): Promise<void> {
    await this.enterUser(ref.userId, ref.path);
    this.counts.records += 1;
    const result = toLegacyMessages(fields, this.deps.maxMessageLength, this.options.dumpedAt);
    if ('reason' in result) {
      this.counts.rejected += 1;
      return this.problem('rejected', path, result.reason);
    }
    if (this.conversation?.ref !== ref) {
      await this.flush();
      this.conversation = { ref, ledgerKey: conversationKey(this.user!.hash, ref.key), parts: null, closed: null };
    }
    let seen = this.occurrences.get(ref);
    if (!seen) this.occurrences.set(ref, (seen = new Map<string, number>()));
    for (const message of result.messages) {
      // Keyed by what it is (role, text, time) and how many like it came before in its
      // conversation, not by its place: a record removed from the dump does not shift the others.
      const content = fingerprint(message);
      const occurrence = seen.get(content) ?? 0;
      seen.set(content, occurrence + 1);
      this.batch.push({ key: messageKey(this.user!.hash, ref.key, content, occurrence), path, message });
    }
    if (this.batch.length >= BATCH_SIZE) await this.flush();
  }

  private async endConversation(ref: LegacyConversationRef, fields: LegacyFields): Promise<void> {
    await this.flush();
    this.counts.conversations += 1;
    const state = this.conversation?.ref === ref ? this.conversation : null;
    // A title written after the messages (the object's key order) is known only now; the
    // conversation may come from an earlier (interrupted) run.
    const title = titleOf(fields);
    if (state && title && !this.options.dryRun && titleOf(ref.fields) === null && !this.user?.blocked) {
      state.parts ??= (await this.deps.ledger.state(state.ledgerKey)).parts;
      if (state.parts[0]) await this.deps.conversations.setTitleIfUntitled(ref.userId, state.parts[0].toHexString(), title);
    }
    this.conversation = null;
  }

  /** Writes the batch: what an earlier import wrote is left, the rest is appended in order. */
  private async flush(): Promise<void> {
    const batch = this.batch;
    const state = this.conversation;
    const user = this.user;
    if (batch.length === 0 || !state || !user) return;
    this.batch = [];
    try {
      await this.flushBatch(user, state, batch);
    } finally {
      await this.progress();
    }
  }

  private async flushBatch(user: UserState, state: ConversationState, batch: PendingMessage[]): Promise<void> {
    // Asked again for every batch: an erasure that starts while a large user is imported stops it.
    user.blocked ??= await this.blockedReason(user.userId);
    if (user.blocked) return this.skip(batch, user.path, user.blocked);
    if (state.closed) return this.skip(batch, state.ref.path, state.closed);

    const existing = await this.deps.messages.existingLegacyKeys(batch.map((pending) => pending.key));
    const fresh = batch.filter((pending) => !existing.has(pending.key));
    this.counts.alreadyPresent += batch.length - fresh.length;
    if (fresh.length > 0) {
      if (this.options.dryRun) await this.countDry(state, fresh);
      else await this.write(user.userId, state, fresh);
    }
  }

  private async countDry(state: ConversationState, fresh: PendingMessage[]): Promise<void> {
    if (state.parts === null) {
      const ledger = await this.deps.ledger.state(state.ledgerKey);
      state.parts = ledger.parts;
      if (state.parts.length === 0) this.counts.conversationsCreated += 1;
    }
    this.counts.imported += fresh.length;
  }

  private async write(userId: string, state: ConversationState, fresh: PendingMessage[]): Promise<void> {
    if (state.parts === null) {
      const ledger = await this.deps.ledger.state(state.ledgerKey);
      state.parts = ledger.parts;
      // A run stopped between recording a part and creating it: create it (or find it) now.
      if (ledger.pending) state.parts = await this.createPart(userId, state, ledger.pending, fresh);
    }
    let remaining = fresh;
    while (remaining.length > 0) {
      const part = state.parts.at(-1);
      if (!part) {
        state.parts = await this.newPart(userId, state, remaining);
        continue;
      }
      let room: number;
      try {
        const current = await this.deps.conversations.get(userId, part.toHexString());
        if (current.status !== 'active') {
          state.closed = `its conversation ${part.toHexString()} is ${current.status} here: restore it, then import again to add its new messages`;
          return this.skip(remaining, state.ref.path, state.closed);
        }
        room = this.deps.maxMessages - current.messageCount;
      } catch (error) {
        if (!(error instanceof AppException && error.getStatus() === 404)) throw error;
        state.closed = `its conversation ${part.toHexString()} was deleted here after an earlier import: not imported again`;
        return this.skip(remaining, state.ref.path, state.closed);
      }
      if (room <= 0) {
        state.parts = await this.newPart(userId, state, remaining);
        continue;
      }
      const chunk = remaining.slice(0, room);
      try {
        await this.deps.messages.appendMany(
          userId,
          part.toHexString(),
          chunk.map((pending) => toInput(pending, this.options.dumpedAt)),
        );
      } catch (error) {
        const code = codeOf(error);
        // Live messages filled the part meanwhile, or another writer got there: look again.
        if (code === ErrorCode.CONVERSATION_FULL || code === ErrorCode.CONVERSATION_BUSY || code === ErrorCode.CONVERSATION_NOT_ACTIVE)
          continue;
        if ((error as { code?: number }).code === 11000) {
          // Another writer stored some of them meanwhile: leave those. Nothing found would loop.
          const present = await this.deps.messages.existingLegacyKeys(remaining.map((pending) => pending.key));
          if (present.size === 0) throw error;
          this.counts.alreadyPresent += present.size;
          remaining = remaining.filter((pending) => !present.has(pending.key));
          continue;
        }
        throw error;
      }
      this.counts.imported += chunk.length;
      remaining = remaining.slice(chunk.length);
    }
  }

  /**
   * The next part: recorded in the ledger first (as pending), then created under that id, then
   * confirmed; a run stopped in between finds it pending and creates it then (once: the id is fixed).
   */
  private async newPart(userId: string, state: ConversationState, next: PendingMessage[]): Promise<Types.ObjectId[]> {
    const known = state.parts?.length ?? 0;
    const pending = await this.deps.ledger.reservePart(state.ledgerKey, known, new Types.ObjectId());
    return this.createPart(userId, state, pending, next);
  }

  private async createPart(
    userId: string,
    state: ConversationState,
    part: Types.ObjectId,
    next: PendingMessage[],
  ): Promise<Types.ObjectId[]> {
    const known = (await this.deps.ledger.state(state.ledgerKey)).parts.length;
    if (await this.deps.conversations.createImported(userId, { id: part, ...(await this.partFields(state, known, next)) })) {
      this.counts.conversationsCreated += 1;
    }
    await this.deps.ledger.confirmPart(state.ledgerKey, part);
    return (await this.deps.ledger.state(state.ledgerKey)).parts;
  }

  /** Our conversation for part `index` (0: the first) of a legacy conversation. */
  private async partFields(state: ConversationState, index: number, next: PendingMessage[]) {
    const { ref } = state;
    const title = titleOf(ref.fields);
    const legacy: Record<string, unknown> = { conversation: ref.key, part: index + 1 };
    const extra = Object.fromEntries(
      Object.entries(ref.fields).filter(([name]) => ![...CONVERSATION_ID_FIELDS, ...TITLE_FIELDS, ...ROLE_FIELDS].includes(name)),
    );
    const withExtra = { legacy: { ...legacy, ...extra } };
    const unsafe = metadataProblem(withExtra) ?? findJsonProblem(withExtra)?.messages.join('; ');
    let metadata: Record<string, unknown> = unsafe === undefined ? withExtra : { legacy };
    if (unsafe !== undefined) await this.problem('skipped', ref.path, `its fields other than id, title and role are not kept: ${unsafe}`);
    let role = this.options.defaultRole;
    const named = ROLE_FIELDS.map((name) => ref.fields[name]).find((value) => typeof value === 'string');
    if (typeof named === 'string') {
      if (ROLE_NAME_PATTERN.test(named) && (await this.hasAgent(named))) role = named;
      else metadata = { ...metadata, legacy: { ...(metadata.legacy as object), role: named } };
    }
    const first = next[0]?.message.timestamp ?? this.options.dumpedAt;
    return {
      title: index === 0 ? title : `${title ?? 'Imported conversation'} (part ${index + 1})`.slice(0, TITLE_MAX_LENGTH),
      role,
      metadata,
      createdAt: first,
    };
  }

  /** Whether conversations of the role can be created here (an agent serves it). */
  async hasAgent(role: string): Promise<boolean> {
    let known = this.roles.get(role);
    if (known === undefined) {
      known = await this.deps.hasAgent(role);
      this.roles.set(role, known);
    }
    return known;
  }

  private async skip(batch: PendingMessage[], path: string, reason: string): Promise<void> {
    this.counts.skipped += batch.length;
    await this.problem('skipped', path, reason);
  }

  /** Reports a problem; a skip repeated for the same place and reason (batch after batch) is reported once. */
  private async problem(outcome: LegacyImportReportEntry['outcome'], path: string, reason: string): Promise<void> {
    const key = `${outcome}\u0000${path}\u0000${reason}`;
    if (outcome === 'skipped' && key === this.lastReported) return;
    this.lastReported = key;
    await this.options.report({ path, outcome, reason });
  }

  private async progress(): Promise<void> {
    const now = Date.now();
    if (this.lease && now - this.lastRenewal > LEASE_TTL_MS / 5) {
      if (!(await this.lease.renew())) throw new LegacyImportBusyError('the lease was lost: another import may have taken over');
      this.lastRenewal = now;
    }
    if (now - this.lastProgress >= PROGRESS_EVERY_MS) {
      this.lastProgress = now;
      this.options.onProgress?.(this.counts);
    }
  }
}

function toInput(pending: PendingMessage, dumpedAt: Date): MessageInput {
  const { message } = pending;
  return {
    type: message.type,
    content: message.content,
    metadata: message.metadata,
    timestamp: message.timestamp ?? dumpedAt,
    status: 'completed',
    ...(message.tokensUsed && { tokensUsed: message.tokensUsed }),
    ...(message.processingTime !== undefined && { processingTime: message.processingTime }),
    legacyKey: pending.key,
  };
}

function titleOf(fields: LegacyFields): string | null {
  for (const name of TITLE_FIELDS) {
    const value = fields[name];
    if (typeof value === 'string' && value.trim() !== '' && !findJsonProblem(value)) return value.trim().slice(0, TITLE_MAX_LENGTH);
  }
  return null;
}

/** The ledger's id of a legacy conversation: names nobody (the user is in it by their keyed hash). */
function conversationKey(userHash: string, key: string): string {
  return digest(`${userHash}\u0000${key}`);
}

/** What a message is: its role, text and time (none: empty). */
function fingerprint(message: LegacyMessage): string {
  return digest(`${message.type}\u0000${message.timestamp?.toISOString() ?? ''}\u0000${message.content}`);
}

/** A legacy record's key: its user, conversation, what it is, and how many identical ones came before it there. */
function messageKey(userHash: string, key: string, content: string, occurrence: number): string {
  return digest(`${userHash}\u0000${key}\u0000${content}\u0000${occurrence}`);
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

function codeOf(error: unknown): string | undefined {
  return error instanceof AppException ? (error.getResponse() as ErrorBody).code : undefined;
}
