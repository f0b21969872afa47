import { HttpStatus, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { Types } from 'mongoose';
import type { AttachmentDto } from '../attachments/dto/attachment.dto.js';
import { AttachmentsService } from '../attachments/attachments.service.js';
import { AppException } from '../common/errors/app-exceptions.js';
import { DomainEventBus } from '../common/events/domain-event-bus.js';
import { DomainEvent } from '../common/events/domain-events.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { decodeCursor, encodeCursor } from '../common/pagination/cursor.js';
import type { MessageSearchFilter } from '../common/search/search-criteria.js';
import type { ConversationDto } from '../conversations/dto/conversation.dto.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import type { MessageDto } from '../messages/dto/message.dto.js';
import { MessagesService } from '../messages/messages.service.js';
import {
  ConversationSearchHitDto,
  ConversationSearchPageDto,
  MessageSearchHitDto,
  MessageSearchPageDto,
  SearchQueryDto,
  SnippetDto,
} from './dto/search.dto.js';
import { SearchQuery, parseSearchQuery, passesPhraseChecks } from './search-query.js';
import { buildSnippet, matchRanges } from './snippets.js';

const DEFAULT_LIMIT = 20;
/** Matching messages (newest first) that conversation ranking considers; older matches beyond it are not counted. */
const MAX_MESSAGE_CANDIDATES = 2000;
const MAX_ATTACHMENT_CANDIDATES = 200;
const MAX_TITLE_CANDIDATES = 200;
/** Candidates one page of message search examines before it answers (phrase checks can reject many). */
const MAX_SCANNED_PER_PAGE = 5000;
const SNIPPETS_PER_CONVERSATION = 3;
const WEIGHT = { message: 1, attachment: 1.5, title: 5 } as const;

/** A search, parsed and scoped: what every source is asked. */
interface PreparedSearch {
  query: SearchQuery;
  base: Omit<MessageSearchFilter, 'before'>;
  status?: 'active' | 'archived';
  role?: string;
  /** Which sources the filters leave in play. */
  sources: { attachments: boolean; titles: boolean };
  scope: string;
  limit: number;
}

/** One match in message search: a message, or an attached file (on a user message). */
type Hit =
  | { kind: 'message'; time: Date; id: Types.ObjectId; message: MessageDto }
  | { kind: 'attachment'; time: Date; id: Types.ObjectId; attachment: AttachmentDto };

/**
 * Full-text search over the caller's history, on the term arrays each module keeps with its
 * documents (messages, titles, attachments). The same implementation runs on MongoDB and the
 * embedded store; see README (Search) for why.
 */
@Injectable()
export class SearchService {
  constructor(
    private readonly messages: MessagesService,
    private readonly conversations: ConversationsService,
    private readonly attachments: AttachmentsService,
    private readonly events: DomainEventBus,
  ) {}

  /** The caller's conversations that match, best first, each with up to three snippets. */
  async searchConversations(ownerId: string, dto: SearchQueryDto): Promise<ConversationSearchPageDto> {
    const search = await this.prepare(ownerId, dto, 'conversations');
    this.countSearch(ownerId, dto);
    const after = dto.cursor === undefined ? undefined : decodeCursor(dto.cursor, search.scope, 'cursor');
    const found = new Map<string, { score: number; matches: number; snippets: SnippetDto[] }>();
    const add = (conversationId: string, weight: number, snippet: () => SnippetDto) => {
      const entry = found.get(conversationId) ?? { score: 0, matches: 0, snippets: [] };
      entry.score += weight;
      entry.matches += 1;
      if (entry.snippets.length < SNIPPETS_PER_CONVERSATION) entry.snippets.push(snippet());
      found.set(conversationId, entry);
    };

    let candidates = 0;
    // Without phrases every match counts, so the store need only find the newest candidates.
    const phrases = search.query.phrases.length + search.query.excludedPhrases.length > 0;
    const cap = (limit: number) => (phrases ? undefined : limit);
    for await (const message of this.messages.search(ownerId, { ...search.base, limit: cap(MAX_MESSAGE_CANDIDATES) })) {
      if (!passesPhraseChecks(search.query, message.content)) continue;
      add(message.conversationId, WEIGHT.message, () => messageSnippet(message, search.query));
      if (++candidates >= MAX_MESSAGE_CANDIDATES) break;
    }
    if (search.sources.attachments) {
      candidates = 0;
      for await (const attachment of this.attachments.search(ownerId, { ...search.base, limit: cap(MAX_ATTACHMENT_CANDIDATES) })) {
        if (!passesPhraseChecks(search.query, attachmentText(attachment))) continue;
        add(attachment.conversationId, WEIGHT.attachment, () => attachmentSnippet(attachment, search.query));
        if (++candidates >= MAX_ATTACHMENT_CANDIDATES) break;
      }
    }
    if (search.sources.titles) {
      const { status, role } = search;
      const { from, to } = search.base;
      for (const conversation of await this.conversations.searchTitles(
        ownerId,
        search.query.terms,
        { status, role, from, to },
        MAX_TITLE_CANDIDATES,
      )) {
        if (!passesPhraseChecks(search.query, conversation.title ?? '')) continue;
        add(conversation.id, WEIGHT.title, () => titleSnippet(conversation, search.query));
      }
    }

    const conversations = await this.conversations.findManyVisible(ownerId, [...found.keys()]);
    const ranked = conversations
      .map((conversation) => ({ conversation, ...found.get(conversation.id)! }))
      .sort((a, b) => b.score - a.score || compareActivity(b.conversation, a.conversation));
    const start =
      after === undefined ? 0 : ranked.findIndex((hit) => isAfter(hit.score, activityOf(hit.conversation), hit.conversation.id, after));
    const page = start === -1 ? [] : ranked.slice(start, start + search.limit + 1);
    const items: ConversationSearchHitDto[] = page.slice(0, search.limit).map((hit) => ({
      conversation: hit.conversation,
      score: hit.score,
      matches: hit.matches,
      snippets: hit.snippets,
    }));
    const last = items.at(-1);
    return {
      items,
      nextCursor:
        page.length > search.limit && last
          ? encodeCursor({
              scope: search.scope,
              rank: last.score,
              key: activityOf(last.conversation),
              id: new Types.ObjectId(last.conversation.id),
            })
          : null,
    };
  }

  /** Matching messages (and files on messages), newest first. */
  async searchMessages(ownerId: string, dto: SearchQueryDto): Promise<MessageSearchPageDto> {
    const search = await this.prepare(ownerId, dto, 'messages');
    this.countSearch(ownerId, dto);
    const position = dto.cursor === undefined ? undefined : decodeCursor(dto.cursor, search.scope, 'cursor');
    const before = position ? { time: position.key, id: position.id } : undefined;

    // One more than a page is enough when every candidate is a hit (no phrase to check).
    const phrases = search.query.phrases.length + search.query.excludedPhrases.length > 0;
    const limit = phrases ? MAX_SCANNED_PER_PAGE : search.limit + 1;
    const messageHits = mapAsync(this.messages.search(ownerId, { ...search.base, before, limit }), (message): Hit => ({
      kind: 'message',
      time: new Date(message.timestamp),
      id: new Types.ObjectId(message.id),
      message,
    }));
    const attachmentHits = search.sources.attachments
      ? mapAsync(this.attachments.search(ownerId, { ...search.base, before, limit }), (attachment): Hit => ({
          kind: 'attachment',
          time: new Date(attachment.createdAt),
          id: new Types.ObjectId(attachment.id),
          attachment,
        }))
      : undefined;

    const hits: Hit[] = [];
    let scanned = 0;
    let lastScanned: Hit | undefined;
    let exhausted = true;
    for await (const hit of mergeNewestFirst(messageHits, attachmentHits)) {
      if (scanned >= MAX_SCANNED_PER_PAGE) {
        exhausted = false;
        break;
      }
      scanned += 1;
      lastScanned = hit;
      const text = hit.kind === 'message' ? hit.message.content : attachmentText(hit.attachment);
      if (!passesPhraseChecks(search.query, text)) continue;
      hits.push(hit);
      if (hits.length > search.limit) {
        exhausted = false;
        break;
      }
    }

    const pageHits = hits.slice(0, search.limit);
    const titles = new Map(
      (await this.conversations.findManyVisible(ownerId, [...new Set(pageHits.map(conversationOf))])).map((c) => [c.id, c.title ?? null]),
    );
    const items: MessageSearchHitDto[] = pageHits.map((hit) => ({
      conversationId: conversationOf(hit),
      conversationTitle: titles.get(conversationOf(hit)) ?? null,
      messageId: hit.kind === 'message' ? hit.message.id : hit.attachment.messageId,
      snippet: hit.kind === 'message' ? messageSnippet(hit.message, search.query) : attachmentSnippet(hit.attachment, search.query),
    }));
    // More may follow: after the last hit returned, or (a page cut short by the scan budget) after the last candidate examined.
    const resumeAt = hits.length > search.limit ? pageHits.at(-1) : exhausted ? undefined : lastScanned;
    return { items, nextCursor: resumeAt ? encodeCursor({ scope: search.scope, key: resumeAt.time, id: resumeAt.id }) : null };
  }

  /** A search counts once for analytics: its further pages (with a cursor) do not. */
  private countSearch(ownerId: string, dto: SearchQueryDto): void {
    if (dto.cursor === undefined) this.events.publish(DomainEvent.FeatureUsed, { userId: ownerId, feature: 'search', at: new Date() });
  }

  private async prepare(ownerId: string, dto: SearchQueryDto, listing: string): Promise<PreparedSearch> {
    const query = parseSearchQuery(dto.q);
    const from = dto.from === undefined ? undefined : new Date(dto.from);
    const to = dto.to === undefined ? undefined : new Date(dto.to);
    if (from && to && from > to) {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'from must not be after to', [
        { field: 'from', messages: ['from must not be after to'] },
      ]);
    }
    const hasAttachments = dto.hasAttachments === undefined ? undefined : dto.hasAttachments === 'true';
    // Role and status narrow to the conversations that have them; otherwise any visible one.
    const scoped = dto.role !== undefined || dto.status !== undefined;
    const conversations = scoped
      ? { onlyConversations: await this.conversations.ids(ownerId, { status: dto.status, role: dto.role }), excludeConversations: [] }
      : { excludeConversations: await this.conversations.ids(ownerId, { status: 'deleted' }) };
    const filters = [from?.toISOString(), to?.toISOString(), dto.role, dto.status, dto.type, hasAttachments];
    return {
      query,
      base: { terms: query.terms, ...conversations, type: dto.type, hasAttachments, from, to },
      status: dto.status,
      role: dto.role,
      sources: {
        attachments: dto.type !== 'assistant' && hasAttachments !== false,
        titles: dto.type === undefined && hasAttachments === undefined,
      },
      scope: `search:${listing}:${createHash('sha256')
        .update(JSON.stringify([query.canonical, filters]))
        .digest('base64url')
        .slice(0, 16)}`,
      limit: dto.limit ?? DEFAULT_LIMIT,
    };
  }
}

function conversationOf(hit: Hit): string {
  return hit.kind === 'message' ? hit.message.conversationId : hit.attachment.conversationId;
}

function attachmentText(attachment: AttachmentDto): string {
  return `${attachment.originalName}\n${attachment.extractedText ?? ''}`;
}

function messageSnippet(message: MessageDto, query: SearchQuery): SnippetDto {
  return {
    source: 'message',
    messageId: message.id,
    attachmentId: null,
    attachmentName: null,
    messageType: message.type,
    timestamp: message.timestamp,
    ...buildSnippet(message.content, query),
  };
}

function attachmentSnippet(attachment: AttachmentDto, query: SearchQuery): SnippetDto {
  const text = attachment.extractedText ?? '';
  return {
    source: 'attachment',
    messageId: attachment.messageId,
    attachmentId: attachment.id,
    attachmentName: attachment.originalName,
    messageType: 'user',
    timestamp: attachment.createdAt,
    ...buildSnippet(matchRanges(text, query).length > 0 ? text : attachment.originalName, query),
  };
}

function titleSnippet(conversation: ConversationDto, query: SearchQuery): SnippetDto {
  return {
    source: 'title',
    messageId: null,
    attachmentId: null,
    attachmentName: null,
    messageType: null,
    timestamp: null,
    ...buildSnippet(conversation.title ?? '', query),
  };
}

/** Ties in relevance go to the conversation with the newest message. */
function activityOf(conversation: ConversationDto): Date {
  return new Date(conversation.lastMessageAt ?? conversation.createdAt);
}

function compareActivity(a: ConversationDto, b: ConversationDto): number {
  return activityOf(a).getTime() - activityOf(b).getTime() || a.id.localeCompare(b.id);
}

/** Whether a ranked item comes strictly after the cursor (score desc, activity desc, id desc). */
function isAfter(score: number, activity: Date, id: string, cursor: { rank?: number; key: Date; id: Types.ObjectId }): boolean {
  const rank = cursor.rank ?? Number.POSITIVE_INFINITY;
  if (score !== rank) return score < rank;
  if (activity.getTime() !== cursor.key.getTime()) return activity < cursor.key;
  return id < cursor.id.toHexString();
}

async function* mapAsync<T, U>(source: AsyncIterable<T>, map: (item: T) => U): AsyncGenerator<U> {
  for await (const item of source) yield map(item);
}

/** Merges two newest-first streams into one (ties broken by id, descending). */
async function* mergeNewestFirst(a: AsyncIterable<Hit>, b?: AsyncIterable<Hit>): AsyncGenerator<Hit> {
  if (!b) {
    yield* a;
    return;
  }
  const left = a[Symbol.asyncIterator]();
  const right = b[Symbol.asyncIterator]();
  // Both first batches at once: two round trips in parallel, not in a row.
  let [x, y] = await Promise.all([left.next(), right.next()]);
  try {
    while (!x.done || !y.done) {
      if (y.done || (!x.done && newer(x.value, y.value))) {
        yield x.value as Hit;
        x = await left.next();
      } else {
        yield y.value;
        y = await right.next();
      }
    }
  } finally {
    await left.return?.();
    await right.return?.();
  }
}

function newer(a: Hit, b: Hit): boolean {
  return a.time.getTime() !== b.time.getTime() ? a.time > b.time : a.id.toHexString() > b.id.toHexString();
}
