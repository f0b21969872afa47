import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Types } from 'mongoose';
import type { Counter } from 'prom-client';
import type { AppConfig } from '../common/config/app-config.js';
import { type CursorPosition, type Page, encodeCursor } from '../common/pagination/cursor.js';
import type { HistoryVersion } from '../conversations/conversations.service.js';
import { AppMetrics } from '../metrics/app-metrics.js';
import type { MessageDto } from './dto/message.dto.js';

/** Conversations up to this many messages are cached whole; longer ones are read from the store. */
export const CACHED_CONVERSATION_MAX_MESSAGES = 200;
/** An entry not read for this long is dropped (so is what a user erased elsewhere, at the latest). */
const IDLE_MS = 10 * 60_000;
/**
 * An entry is read from the store again after this long, however often it is read: the bound on
 * staleness if a change's version bump was lost (the process stopped between the two writes).
 */
const MAX_AGE_MS = 5 * 60_000;
const SWEEP_INTERVAL_MS = 60_000;
/** How many conversations a single miss is remembered for (a second read within IDLE_MS fills the cache). */
const MAX_REMEMBERED_MISSES = 10_000;
/** Per message, beside its JSON: object headers, the Date, the id, the map entry. */
const MESSAGE_OVERHEAD_BYTES = 200;

export interface CachedMessage {
  dto: MessageDto;
  /** The history's sort key: timestamp (ms), then id. */
  time: number;
  id: string;
}

interface CachedHistory {
  ownerId: string;
  version: string;
  /** Every message of the conversation, by (timestamp, id). */
  messages: CachedMessage[];
  bytes: number;
  usedAt: number;
  filledAt: number;
}

export type HistoryOrder = 'asc' | 'desc';

/**
 * The histories of active conversations in memory, whole (up to CACHED_CONVERSATION_MAX_MESSAGES
 * messages), bounded in bytes by CHAT_CACHE_MAX_MB, least recently read evicted first. An entry is
 * served only to the conversation's owner and only while its version (messageCount, lastSeq,
 * messagesRev: see ConversationsService.historyVersion, read from the store on every request)
 * is the store's, so a write on any instance is seen by the next read everywhere. A conversation
 * is admitted when it was written through this instance or read twice within IDLE_MS: one-off
 * reads of old conversations do not push out active ones.
 */
@Injectable()
export class MessageCache implements OnModuleDestroy {
  private readonly maxBytes: number;
  private readonly entries = new Map<string, CachedHistory>();
  private readonly admitted = new Map<string, number>();
  private bytes = 0;
  private readonly reads: Counter<'result'>;
  private readonly sweeper?: NodeJS.Timeout;

  constructor(config: ConfigService<AppConfig, true>, metrics: AppMetrics) {
    this.maxBytes = config.get('chat', { infer: true }).cacheMaxMb * 1024 * 1024;
    this.reads = metrics.counter(
      'chat_message_cache_reads_total',
      'History pages by how the message cache served them: hit (from memory), fill (read whole from the store and cached), miss (read from the store, not cached)',
      ['result'],
    );
    metrics.gauge('chat_message_cache_bytes', 'Estimated bytes of the message cache (bounded by CHAT_CACHE_MAX_MB)', [], (gauge) =>
      gauge.set(this.bytes),
    );
    if (this.enabled) {
      this.sweeper = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS);
      this.sweeper.unref();
    }
  }

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  /** The page from memory when the owner's history is cached at the store's version; else undefined (a stale entry is dropped). */
  page(
    conversationId: string,
    ownerId: string,
    version: HistoryVersion,
    order: HistoryOrder,
    limit: number,
    position: CursorPosition | undefined,
    scope: string,
  ): Page<MessageDto> | undefined {
    const entry = this.entries.get(conversationId);
    if (!entry) return undefined;
    const now = Date.now();
    if (
      entry.ownerId !== ownerId ||
      entry.version !== versionKey(version) ||
      now - entry.usedAt > IDLE_MS ||
      now - entry.filledAt > MAX_AGE_MS
    ) {
      this.drop(conversationId);
      return undefined;
    }
    // Most recently read last, so the first entry is the one to evict.
    this.entries.delete(conversationId);
    entry.usedAt = now;
    this.entries.set(conversationId, entry);
    this.reads.inc({ result: 'hit' });
    return pageOf(entry.messages, order, limit, position, scope);
  }

  /** Whether a miss should read the whole conversation to fill the cache (remembers the miss otherwise). */
  shouldFill(conversationId: string, version: HistoryVersion): boolean {
    if (!this.enabled || version.messageCount > CACHED_CONVERSATION_MAX_MESSAGES) return false;
    const seenAt = this.admitted.get(conversationId);
    if (seenAt !== undefined && Date.now() - seenAt <= IDLE_MS) return true;
    this.admit(conversationId);
    return false;
  }

  /** A message was written to the conversation through this instance: its next read fills the cache. */
  noteWrite(conversationId: string): void {
    if (this.enabled) this.admit(conversationId);
  }

  /**
   * Caches the whole history read after `version` was: only if it holds as many messages as the
   * version says (an insert reserved but not yet written, or a removal under way, would make it
   * stale under that version). Answers the history as cached (to page through), or null when
   * `messages` is not that whole history.
   */
  fill(conversationId: string, ownerId: string, version: HistoryVersion, messages: readonly MessageDto[]): readonly CachedMessage[] | null {
    if (messages.length !== version.messageCount) {
      this.reads.inc({ result: 'miss' });
      return null;
    }
    this.reads.inc({ result: 'fill' });
    const cached = messages.map((dto) => ({ dto, time: Date.parse(dto.timestamp), id: dto.id }));
    const bytes = cached.reduce((sum, message) => sum + 2 * JSON.stringify(message.dto).length + MESSAGE_OVERHEAD_BYTES, 0);
    if (bytes > this.maxBytes) return cached;
    this.drop(conversationId);
    const now = Date.now();
    this.entries.set(conversationId, { ownerId, version: versionKey(version), messages: cached, bytes, usedAt: now, filledAt: now });
    this.bytes += bytes;
    for (const oldest of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(oldest);
    }
    return cached;
  }

  /** A miss served from the store without filling. */
  missed(): void {
    this.reads.inc({ result: 'miss' });
  }

  /** Drops the conversations' histories (deleted, or their messages erased or rewritten). */
  evict(conversationIds: Iterable<string>): void {
    for (const id of conversationIds) {
      this.drop(id);
      this.admitted.delete(id);
    }
  }

  /** Drops the conversation's history if it was cached for this owner (another caller's 404 must not evict it). */
  evictIfOwnedBy(conversationId: string, ownerId: string): void {
    if (this.entries.get(conversationId)?.ownerId === ownerId) this.drop(conversationId);
  }

  /** Drops every history of the user (their data is being erased or pseudonymised). */
  evictOwner(ownerId: string): void {
    for (const [id, entry] of this.entries) if (entry.ownerId === ownerId) this.drop(id);
  }

  private admit(conversationId: string): void {
    this.admitted.delete(conversationId);
    this.admitted.set(conversationId, Date.now());
    if (this.admitted.size > MAX_REMEMBERED_MISSES) this.admitted.delete(this.admitted.keys().next().value!);
  }

  private drop(conversationId: string): void {
    const entry = this.entries.get(conversationId);
    if (!entry) return;
    this.entries.delete(conversationId);
    this.bytes -= entry.bytes;
  }

  private sweep(now: number): void {
    for (const [id, entry] of this.entries) if (now - entry.usedAt > IDLE_MS || now - entry.filledAt > MAX_AGE_MS) this.drop(id);
    for (const [id, seenAt] of this.admitted) if (now - seenAt > IDLE_MS) this.admitted.delete(id);
  }
}

function versionKey(version: HistoryVersion): string {
  return `${version.messageCount}:${version.lastSeq}:${version.messagesRev}`;
}

/** `a` before `b` in the history's order (timestamp, then id: both as the store sorts them). */
function before(a: { time: number; id: string }, b: { time: number; id: string }): boolean {
  return a.time < b.time || (a.time === b.time && a.id < b.id);
}

/** The page a store query would answer (MessagesRepository.page): same order, cursor and next cursor. */
export function pageOf(
  messages: readonly CachedMessage[],
  order: HistoryOrder,
  limit: number,
  position: CursorPosition | undefined,
  scope: string,
): Page<MessageDto> {
  const cursor = position && { time: position.key.getTime(), id: position.id.toHexString() };
  let picked: CachedMessage[];
  if (order === 'asc') {
    // The first message after the cursor.
    let low = 0;
    let high = messages.length;
    while (cursor && low < high) {
      const middle = (low + high) >>> 1;
      if (before(cursor, messages[middle]!)) high = middle;
      else low = middle + 1;
    }
    picked = messages.slice(low, low + limit + 1);
  } else {
    // The last message before the cursor, then backwards.
    let low = 0;
    let high = messages.length;
    while (cursor && low < high) {
      const middle = (low + high) >>> 1;
      if (before(messages[middle]!, cursor)) low = middle + 1;
      else high = middle;
    }
    const end = cursor ? low : messages.length;
    picked = messages.slice(Math.max(0, end - limit - 1), end).reverse();
  }
  const hasMore = picked.length > limit;
  const items = (hasMore ? picked.slice(0, limit) : picked).map((message) => message.dto);
  const last = hasMore ? picked[limit - 1] : undefined;
  return {
    items,
    nextCursor: last ? encodeCursor({ scope, key: new Date(last.time), id: new Types.ObjectId(last.id) }) : null,
  };
}
