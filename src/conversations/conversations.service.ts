import { HttpStatus, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Types } from 'mongoose';
import { AuthenticatedUser } from '../auth/authenticated-user.js';
import { AppConfig } from '../common/config/app-config.js';
import { AppException, ConflictStateException, ResourceNotFoundException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { DomainEventBus } from '../common/events/domain-event-bus.js';
import { DomainEvent } from '../common/events/domain-events.js';
import { Page, decodeCursor, toPage } from '../common/pagination/cursor.js';
import type { TermCriteria } from '../common/search/search-criteria.js';
import { rewriteInBatches } from '../common/user-data/batches.js';
import { UserDataRegistry } from '../common/user-data/user-data.registry.js';
import { maskStrings } from '../common/user-data/mask-strings.js';
import type { DataCounts, Pseudonymisation } from '../common/user-data/user-data.js';
import type { ConversationFact, ConversationLabel } from '../common/analytics/analytics-facts.js';
import { toConversationDto } from './conversation.mapper.js';
import { ConversationCounts, ConversationRecord, ConversationsRepository } from './conversations.repository.js';
import { ConversationDto } from './dto/conversation.dto.js';
import { CreateConversationDto } from './dto/create-conversation.dto.js';
import { ListConversationsQuery } from './dto/list-conversations.query.js';
import { UpdateConversationDto } from './dto/update-conversation.dto.js';
import type { PurgeGuard, RetentionCandidate, RetentionQuery } from './retention-candidates.js';
import { CONVERSATIONS_COLLECTION, ConversationStatus, ConversationSummary } from './schemas/conversation.schema.js';
import { AgentsService } from '../agents/agents.service.js';
import { PreferencesService } from '../preferences/preferences.service.js';

export type { InclusionFilter, PurgeGuard, RetentionCandidate, RetentionQuery } from './retention-candidates.js';

const LIST_SCOPE = 'conversations';
/** Conversations looked up per query when analytics labels facts with their role and agent. */
const LABEL_BATCH = 1000;
/** Conversations read and rewritten per round trip when pseudonymising. */
const PSEUDONYMISE_BATCH = 200;
const DEFAULT_PAGE_SIZE = 20;
const RESERVATION_ATTEMPTS = 20;

export interface HistoryVersion {
  messageCount: number;
  lastSeq: number;
  messagesRev: number;
}

export interface ConversationTurnContext {
  agentKey: string | null;
  title: string | null;
  status: ConversationStatus;
  summary: ConversationSummary | null;
}

/** A conversation's counters as the count repair reads them. */
export interface ConversationCountsSnapshot {
  id: string;
  userId: string;
  status: ConversationStatus;
  messageCount: number;
  lastSeq: number;
  updatedAt: Date;
}

/** What the count repair found stored for a conversation. */
export interface StoredMessageCounts {
  messageCount: number;
  lastSeq: number;
  lastMessageAt: Date | null;
}

/** Attempts at a conditional count repair that misses while the conversation is unchanged (the embedded store's race answer). */
const REPAIR_ATTEMPTS = 3;

/** Sequence numbers handed to messages that are about to be written. */
export interface ReservedSlots {
  firstSeq: number;
}

/** MongoDB's duplicate key error. */
const DUPLICATE_KEY = 11000;

@Injectable()
export class ConversationsService {
  private readonly maxMessages: number;

  constructor(
    private readonly conversations: ConversationsRepository,
    private readonly events: DomainEventBus,
    private readonly agents: AgentsService,
    private readonly preferences: PreferencesService,
    private readonly userData: UserDataRegistry,
    config: ConfigService<AppConfig, true>,
  ) {
    this.maxMessages = config.get('chat', { infer: true }).maxMessagesPerConversation;
  }

  async create(user: AuthenticatedUser, dto: CreateConversationDto): Promise<ConversationDto> {
    const preferences = dto.agentKey === undefined && dto.role === undefined ? await this.preferences.get(user.id) : undefined;
    const { agentKey, role } = await this.agents.chooseForConversation(user, {
      agentKey: dto.agentKey,
      role: dto.role,
      preferredAgentKey: preferences?.defaultAgentKey ?? undefined,
    });
    const record = await this.conversations.create(user.id, {
      title: dto.title ?? null,
      role,
      agentKey,
      metadata: dto.metadata ?? {},
      now: new Date(),
    });
    this.events.publish(DomainEvent.ConversationCreated, {
      userId: user.id,
      conversationId: record._id.toHexString(),
      status: record.status,
    });
    return toConversationDto(record);
  }

  /**
   * A conversation of imported history (src/legacy-import) under the id the import chose, so a
   * retried import finds it again; dated at its first message, with the role's default agent.
   * Answers false when it exists already.
   */
  async createImported(
    ownerId: string,
    data: { id: Types.ObjectId; title: string | null; role: string; metadata: Record<string, unknown>; createdAt: Date },
  ): Promise<boolean> {
    const { agentKey, role } = await this.agents.chooseForConversation({ id: ownerId, roles: [data.role] }, { role: data.role });
    try {
      await this.conversations.create(ownerId, {
        id: data.id,
        title: data.title,
        role,
        agentKey,
        metadata: data.metadata,
        now: data.createdAt,
      });
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
      throw error;
    }
    this.events.publish(DomainEvent.ConversationCreated, { userId: ownerId, conversationId: data.id.toHexString(), status: 'active' });
    return true;
  }

  async list(ownerId: string, query: ListConversationsQuery): Promise<Page<ConversationDto>> {
    const status = query.status ?? 'active';
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const scope = `${LIST_SCOPE}:${status}:${query.role ?? '*'}`;
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, scope, 'cursor');
    const rows = await this.conversations.list(ownerId, { status, role: query.role, limit, after });
    return toPage(rows, limit, scope, (row) => row.lastActivityAt, toConversationDto);
  }

  async get(ownerId: string, id: string): Promise<ConversationDto> {
    return toConversationDto(await this.requireVisible(ownerId, id));
  }

  async update(ownerId: string, id: string, dto: UpdateConversationDto): Promise<ConversationDto> {
    if (dto.title === undefined && dto.metadata === undefined && dto.status === undefined) {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'Nothing to update: send title, metadata or status', []);
    }
    const record = await this.conversations.updateVisible(ownerId, new Types.ObjectId(id), dto, new Date());
    if (!record) throw notFound();
    const conversation = toConversationDto(record);
    this.events.publish(DomainEvent.ConversationUpdated, { userId: ownerId, conversationId: id, status: record.status, conversation });
    return conversation;
  }

  /**
   * Archives (soft delete), or with `permanent` marks deleted and hides it from every listing.
   * Deleting for good asks the deletion guards first (409 LEGAL_HOLD while a hold covers the
   * conversation or its owner); archiving destroys nothing and is always allowed.
   */
  async remove(ownerId: string, id: string, permanent: boolean): Promise<void> {
    const objectId = new Types.ObjectId(id);
    if (permanent) {
      // 404 before 409: whether someone else's conversation is held is none of the caller's business.
      await this.assertVisible(ownerId, id);
      await this.userData.assertMayDelete({ ownerId, conversationId: objectId.toHexString() });
    }
    const now = new Date();
    const record = permanent
      ? await this.conversations.markDeleted(ownerId, objectId, now)
      : await this.conversations.updateVisible(ownerId, objectId, { status: 'archived' }, now);
    if (!record) throw notFound();
    // A conversation deleted for good takes its files with it before the answer.
    await this.events.publishAndWait(DomainEvent.ConversationUpdated, {
      userId: ownerId,
      conversationId: id,
      status: record.status,
      conversation: toConversationDto(record),
    });
  }

  /** Bulk status change for admin and retention jobs; returns how many conversations changed. */
  setStatusMany(ownerId: string, ids: string[], status: ConversationStatus): Promise<number> {
    return this.conversations.setStatusMany(
      ownerId,
      ids.map((id) => new Types.ObjectId(id)),
      status,
      new Date(),
    );
  }

  /** What a chat turn needs to know about the conversation; 404 unless it is the owner's and visible. */
  async turnContext(ownerId: string, id: string): Promise<ConversationTurnContext> {
    const record = await this.requireVisible(ownerId, id);
    return { agentKey: record.agentKey ?? null, title: record.title ?? null, status: record.status, summary: record.summary ?? null };
  }

  async setTitleIfUntitled(ownerId: string, id: string, title: string): Promise<void> {
    if (await this.conversations.setTitleIfUntitled(ownerId, new Types.ObjectId(id), title)) {
      const record = await this.conversations.findVisible(ownerId, new Types.ObjectId(id));
      if (record)
        this.events.publish(DomainEvent.ConversationUpdated, {
          userId: ownerId,
          conversationId: id,
          status: record.status,
          conversation: toConversationDto(record),
        });
    }
  }

  saveSummary(ownerId: string, id: string, summary: ConversationSummary): Promise<void> {
    return this.conversations.saveSummary(ownerId, new Types.ObjectId(id), summary);
  }

  /** Visible conversations whose title matches a term search (search module). */
  async searchTitles(
    ownerId: string,
    terms: TermCriteria,
    filter: { status?: string; role?: string; from?: Date; to?: Date },
    limit: number,
  ): Promise<ConversationDto[]> {
    return (await this.conversations.searchTitles(ownerId, terms, filter, limit)).map(toConversationDto);
  }

  /** Ids of the owner's conversations in a status (every visible one when none is given), narrowed to a role. */
  ids(ownerId: string, filter: { status?: ConversationStatus; role?: string }): Promise<Types.ObjectId[]> {
    return this.conversations.ids(ownerId, filter);
  }

  async findManyVisible(ownerId: string, ids: string[]): Promise<ConversationDto[]> {
    if (ids.length === 0) return [];
    return (
      await this.conversations.findManyVisible(
        ownerId,
        ids.map((id) => new Types.ObjectId(id)),
      )
    ).map(toConversationDto);
  }

  /** Analytics: every conversation created within [from, to), oldest first, streamed. */
  async *startedBetween(from: Date, to: Date): AsyncGenerator<ConversationFact> {
    for await (const record of this.conversations.createdBetween(from, to)) {
      yield {
        id: record._id.toHexString(),
        userId: record.userId,
        role: record.role,
        agentKey: record.agentKey ?? null,
        createdAt: record.createdAt,
      };
    }
  }

  /** Analytics: the role and agent of each of these conversations that still exists, by id. */
  async labelsOf(ids: readonly string[]): Promise<Map<string, ConversationLabel>> {
    const labels = new Map<string, ConversationLabel>();
    const valid = ids.filter((id) => Types.ObjectId.isValid(id)).map((id) => new Types.ObjectId(id));
    for (let start = 0; start < valid.length; start += LABEL_BATCH) {
      for (const record of await this.conversations.labels(valid.slice(start, start + LABEL_BATCH))) {
        labels.set(record._id.toHexString(), { role: record.role, agentKey: record.agentKey ?? null });
      }
    }
    return labels;
  }

  /** The owner's visible conversations active within the range, oldest first, streamed (export). */
  async *streamVisible(ownerId: string, range: { from?: Date; to?: Date }): AsyncGenerator<ConversationDto> {
    for await (const record of this.conversations.streamVisible(ownerId, range)) yield toConversationDto(record);
  }

  /** Fails with 404 unless the conversation exists, is the owner's and is not deleted. */
  /**
   * The version of the conversation's history (404 when not the owner's): it changes with every
   * message added, removed or changed, so a cached history that carries it is current.
   */
  async historyVersion(ownerId: string, id: string): Promise<HistoryVersion> {
    const found = await this.conversations.historyVersion(ownerId, new Types.ObjectId(id));
    if (!found) throw notFound();
    return { messageCount: found.messageCount, lastSeq: found.lastSeq, messagesRev: found.messagesRev ?? 0 };
  }

  /** After messages of these conversations changed in place: their history versions move on. */
  async messagesChanged(ids: readonly Types.ObjectId[]): Promise<void> {
    if (ids.length > 0) await this.conversations.bumpMessagesRev(ids);
  }

  async assertVisible(ownerId: string, id: string): Promise<void> {
    if (!(await this.conversations.existsVisible(ownerId, new Types.ObjectId(id)))) throw notFound();
  }

  /**
   * Takes `count` message slots: 404 for a conversation that is not the owner's, 409 when it is
   * archived or has reached CHAT_MAX_MESSAGES_PER_CONVERSATION.
   */
  async reserveMessageSlots(ownerId: string, id: string, count: number, messageTime: Date): Promise<ReservedSlots> {
    const objectId = new Types.ObjectId(id);
    for (let attempt = 1; ; attempt += 1) {
      const reserved = await this.conversations.reserveMessageSlots(ownerId, objectId, count, this.maxMessages, messageTime, new Date());
      if (reserved) {
        return { firstSeq: reserved.lastSeq - count + 1 };
      }
      const current = await this.requireVisible(ownerId, id);
      if (current.status !== 'active') {
        throw new ConflictStateException(
          ErrorCode.CONVERSATION_NOT_ACTIVE,
          `Conversation is ${current.status}; restore it to add messages`,
        );
      }
      if (current.messageCount + count > this.maxMessages) {
        throw new ConflictStateException(
          ErrorCode.CONVERSATION_FULL,
          `Conversation has reached the limit of ${this.maxMessages} messages; start a new conversation`,
          { limit: this.maxMessages, messageCount: current.messageCount },
        );
      }
      // Active and with room, yet the conditional update matched nothing: it lost a race with a
      // concurrent write. MongoDB retries such conflicts itself; the embedded store does not.
      if (attempt >= RESERVATION_ATTEMPTS) {
        throw new ConflictStateException(ErrorCode.CONVERSATION_BUSY, 'Conversation is receiving too many messages at once; retry shortly');
      }
      await new Promise((wake) => setTimeout(wake, Math.random() * 5 * attempt));
    }
  }

  releaseMessageSlots(ownerId: string, id: string, count: number, lastMessageAt: Date | null): Promise<void> {
    return this.conversations.releaseMessageSlots(ownerId, new Types.ObjectId(id), count, lastMessageAt, new Date());
  }

  /**
   * Call before removing messages of a conversation (then release their slots): stamps
   * `updatedAt`, so a count repair that read the conversation before cannot apply a count taken
   * mid-delete, and one that reads it after leaves it alone for its grace period.
   */
  beforeMessagesRemoved(ownerId: string, id: string): Promise<void> {
    return this.conversations.touch(ownerId, new Types.ObjectId(id), new Date());
  }

  /**
   * Maintenance across all users (the count repair job): conversations changed within the range
   * (from null: since ever), in (updatedAt, id) order after a position, at most `limit`.
   */
  async countsChangedBetween(
    range: { from: Date | null; to: Date },
    after: { updatedAt: Date; id: string } | null,
    limit: number,
  ): Promise<ConversationCountsSnapshot[]> {
    const position = after ? { updatedAt: after.updatedAt, id: new Types.ObjectId(after.id) } : null;
    return (await this.conversations.countsChangedBetween(range, position, limit)).map(toCountsSnapshot);
  }

  /**
   * Sets a conversation's counters to what is stored, only if it is still exactly as observed
   * (messageCount, lastSeq, updatedAt). False when it changed meanwhile (a send or delete): the
   * change stamped `updatedAt`, so a later run checks it again. `lastSeq` never goes down.
   */
  async repairCounts(observed: ConversationCountsSnapshot, stored: StoredMessageCounts): Promise<boolean> {
    const id = new Types.ObjectId(observed.id);
    let current: ConversationCounts = { ...observed, _id: id };
    const actual = { ...stored, lastSeq: Math.max(stored.lastSeq, observed.lastSeq) };
    for (let attempt = 1; attempt <= REPAIR_ATTEMPTS; attempt += 1) {
      const record = await this.conversations.repairCounts(current, actual, new Date());
      if (record) {
        if (record.status !== 'deleted') {
          this.events.publish(DomainEvent.ConversationUpdated, {
            userId: record.userId,
            conversationId: observed.id,
            status: record.status,
            conversation: toConversationDto(record),
          });
        }
        return true;
      }
      // A miss on an unchanged conversation is the embedded store losing a race (see
      // reserveMessageSlots); a changed one is left to the next run.
      const reread = await this.conversations.counts(observed.userId, id);
      if (!reread || !sameCounts(reread, current)) return false;
      current = reread;
    }
    return false;
  }

  /**
   * Maintenance across all users (retention): conversations that match the query, in _id order,
   * at most `limit`. See RetentionQuery for the time conditions.
   */
  async findForRetention(query: RetentionQuery): Promise<RetentionCandidate[]> {
    return (await this.conversations.findForRetention(query)).map((row) => ({
      id: row._id,
      userId: row.userId,
      role: row.role,
      agentKey: row.agentKey ?? null,
      status: row.status,
      lastActivityAt: row.lastActivityAt,
      deletedAt: row.deletedAt ?? null,
    }));
  }

  /** Maintenance across all users (legal holds): the conversation's owner whatever its status, or null when there is no such conversation. */
  ownerOf(conversationId: Types.ObjectId): Promise<string | null> {
    return this.conversations.ownerOf(conversationId);
  }

  /**
   * Retention, before anything under these conversations is purged: marks those that still meet
   * the guard (see PurgeGuard) and answers their ids, the only ones to purge. A marked conversation
   * is `deleted`: it takes no message from then on (reserveMessageSlots answers 404), so nothing
   * written during the purge is lost or left behind. One that took a message since it was
   * selected is not marked. A purge interrupted after the mark leaves the conversation deleted;
   * the `permanently-deleted` pass of the first run past the grace period finishes it.
   */
  markForPurge(ids: readonly Types.ObjectId[], guard: PurgeGuard): Promise<Types.ObjectId[]> {
    return this.conversations.markForPurge(ids, guard, new Date());
  }

  /**
   * Removes these conversations themselves (retention), whoever owns them, if marked for purge
   * (markForPurge). Call it last, once every ConversationDataProvider has purged what hangs under
   * them: a purge interrupted before this point leaves the conversations in place, so a later run
   * finds them again. Their counts need no care: the messages and the conversation go together.
   */
  async purgeConversations(ids: readonly Types.ObjectId[]): Promise<DataCounts> {
    return { [CONVERSATIONS_COLLECTION]: await this.conversations.deleteMarked(ids) };
  }

  /**
   * Gives those of these conversations that belong to `request.userId` to the pseudonym, with
   * title, summary and metadata masked (retention policies that anonymise); the others are left alone.
   */
  async pseudonymiseConversations(ids: readonly Types.ObjectId[], request: Pseudonymisation): Promise<DataCounts> {
    if (ids.length === 0) return { [CONVERSATIONS_COLLECTION]: 0 };
    return { [CONVERSATIONS_COLLECTION]: await this.rewriteOwner(request, ids) };
  }

  /** Every conversation of `request.userId` given to the pseudonym, personal fields masked (user anonymisation). */
  async pseudonymiseUser(request: Pseudonymisation): Promise<DataCounts> {
    return { [CONVERSATIONS_COLLECTION]: await this.rewriteOwner(request, undefined) };
  }

  private rewriteOwner(request: Pseudonymisation, ids: readonly Types.ObjectId[] | undefined): Promise<number> {
    const mask = (text: string) => request.maskText(text);
    return rewriteInBatches(
      () => this.conversations.personalFields(request.userId, ids, PSEUDONYMISE_BATCH),
      (batch) =>
        this.conversations.replaceOwner(
          request.userId,
          request.pseudonym,
          batch.map((conversation) => ({
            _id: conversation._id,
            title: conversation.title === null || conversation.title === undefined ? null : mask(conversation.title),
            summary: conversation.summary ? { ...conversation.summary, text: mask(conversation.summary.text) } : null,
            metadata: maskStrings(conversation.metadata ?? {}, mask),
          })),
          new Date(),
        ),
    );
  }

  private async requireVisible(ownerId: string, id: string): Promise<ConversationRecord> {
    const record = await this.conversations.findVisible(ownerId, new Types.ObjectId(id));
    if (!record) throw notFound();
    return record;
  }
}

function toCountsSnapshot(record: ConversationCounts): ConversationCountsSnapshot {
  return {
    id: record._id.toHexString(),
    userId: record.userId,
    status: record.status,
    messageCount: record.messageCount,
    lastSeq: record.lastSeq,
    updatedAt: record.updatedAt,
  };
}

function sameCounts(a: ConversationCounts, b: ConversationCounts): boolean {
  return a.messageCount === b.messageCount && a.lastSeq === b.lastSeq && a.updatedAt.getTime() === b.updatedAt.getTime();
}

function notFound(): ResourceNotFoundException {
  return new ResourceNotFoundException(ErrorCode.CONVERSATION_NOT_FOUND, 'Conversation not found');
}
