import { HttpStatus, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Types } from 'mongoose';
import { AppConfig } from '../common/config/app-config.js';
import { AppException, ConflictStateException, ValidationFailedException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { DomainEventBus } from '../common/events/domain-event-bus.js';
import { DomainEvent } from '../common/events/domain-events.js';
import { Page, decodeCursor, toPage } from '../common/pagination/cursor.js';
import type { MessageSearchFilter } from '../common/search/search-criteria.js';
import { isBlank } from '../common/text/blank.js';
import { countTokens } from '../common/text/tokenizer.js';
import { UserDataRegistry } from '../common/user-data/user-data.registry.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import { CreateMessageDto } from './dto/create-message.dto.js';
import { ListMessagesQuery } from './dto/list-messages.query.js';
import { MessageDto } from './dto/message.dto.js';
import { CACHED_CONVERSATION_MAX_MESSAGES, MessageCache, pageOf } from './message-cache.js';
import { toMessageDto } from './message.mapper.js';
import type { MessageFact, QuestionTermsFact, QuestionText } from '../common/analytics/analytics-facts.js';
import { CompletedReply, MessageRecord, MessagesRepository } from './messages.repository.js';
import { GenerationInfo, MessageError, MessageStatus, MessageType, TokenUsage } from './schemas/message.schema.js';
import { ResourceNotFoundException } from '../common/errors/app-exceptions.js';

const DEFAULT_PAGE_SIZE = 50;

/** A message written by the server or an import job (any type, optionally back-dated). */
export interface MessageInput {
  type: MessageType;
  content: string;
  metadata?: Record<string, unknown>;
  timestamp?: Date;
  status?: MessageStatus;
  generation?: GenerationInfo;
  tokensUsed?: TokenUsage;
  processingTime?: number;
  /** An imported legacy record's key (unique): see LegacyImportService. */
  legacyKey?: string;
}

/** One message in the incremental export: the REST shape plus what a sync needs. */
export interface MessageChange {
  userId: string;
  updatedAt: Date;
  message: MessageDto;
}

/** A message as the context builder reads it. */
export interface ContextMessage {
  seq: number;
  type: MessageType;
  content: string;
  tokens: number;
}

@Injectable()
export class MessagesService {
  private readonly maxMessageLength: number;

  constructor(
    private readonly messages: MessagesRepository,
    private readonly conversations: ConversationsService,
    private readonly events: DomainEventBus,
    private readonly userData: UserDataRegistry,
    private readonly cache: MessageCache,
    config: ConfigService<AppConfig, true>,
  ) {
    this.maxMessageLength = config.get('chat', { infer: true }).maxMessageLength;
  }

  /** Which of these legacy keys (MessageInput.legacyKey, unique) a stored message carries already, whoever owns it now. */
  existingLegacyKeys(keys: readonly string[]): Promise<Set<string>> {
    return keys.length === 0 ? Promise.resolve(new Set()) : this.messages.existingLegacyKeys(keys);
  }

  /** A client's message: validated, then appended to the conversation. */
  async appendUserMessage(ownerId: string, conversationId: string, dto: CreateMessageDto): Promise<MessageDto> {
    const [message] = await this.appendMany(ownerId, conversationId, [{ type: 'user', content: dto.content, metadata: dto.metadata }]);
    return message!;
  }

  /**
   * Appends messages in order with one slot reservation and one insertMany (the path for server
   * replies and bulk imports). messageCount and lastMessageAt stay exact: slots taken for
   * messages that fail to insert are given back.
   */
  async appendMany(ownerId: string, conversationId: string, inputs: MessageInput[]): Promise<MessageDto[]> {
    if (inputs.length === 0) return [];
    const userInputs = inputs.filter((input) => input.type === 'user').length;
    inputs.forEach((input, index) => {
      if (input.type === 'user') this.assertContent(input.content, userInputs === 1 ? 'content' : `messages.${index}.content`);
    });

    const now = new Date();
    const timestamps = inputs.map((input) => input.timestamp ?? now);
    const newest = new Date(Math.max(...timestamps.map((time) => time.getTime())));
    const { firstSeq } = await this.conversations.reserveMessageSlots(ownerId, conversationId, inputs.length, newest);

    const objectId = new Types.ObjectId(conversationId);
    let records: MessageRecord[];
    try {
      records = await this.messages.insertMany(
        ownerId,
        objectId,
        inputs.map((input, index) => ({
          type: input.type,
          content: input.content,
          metadata: input.metadata ?? {},
          timestamp: timestamps[index]!,
          seq: firstSeq + index,
          tokens: countTokens(input.content),
          status: input.status,
          generation: input.generation,
          tokensUsed: input.tokensUsed,
          processingTime: input.processingTime,
          ...(input.legacyKey !== undefined && { legacyKey: input.legacyKey }),
        })),
      );
    } catch (error) {
      const latest = await this.messages.latestTimestamp(ownerId, objectId);
      await this.conversations.releaseMessageSlots(ownerId, conversationId, inputs.length, latest);
      throw error;
    }

    const messages = records.map(toMessageDto);
    this.cache.noteWrite(conversationId);
    for (const message of messages) {
      this.events.publish(DomainEvent.MessageCreated, {
        userId: ownerId,
        conversationId,
        messageId: message.id,
        seq: message.seq,
        type: message.type,
        message,
      });
    }
    return messages;
  }

  /**
   * The user's message and a pending assistant reply, written together so that concurrent sends
   * interleave as question, answer, question, answer.
   */
  async appendTurn(
    ownerId: string,
    conversationId: string,
    dto: CreateMessageDto,
    generation: GenerationInfo,
  ): Promise<{ userMessage: MessageDto; assistantMessage: MessageDto }> {
    const [userMessage, assistantMessage] = await this.appendMany(ownerId, conversationId, [
      { type: 'user', content: dto.content, metadata: dto.metadata },
      { type: 'assistant', content: '', status: 'pending', generation },
    ]);
    return { userMessage: userMessage!, assistantMessage: assistantMessage! };
  }

  async getInConversation(ownerId: string, conversationId: string, messageId: string): Promise<MessageDto> {
    const record = await this.messages.findOne(ownerId, new Types.ObjectId(conversationId), new Types.ObjectId(messageId));
    if (!record) throw messageNotFound();
    return toMessageDto(record);
  }

  /** Messages with a seq above `afterSeq`, in order: what a client that saw `afterSeq` missed. */
  async missedSince(ownerId: string, conversationId: string, afterSeq: number, limit: number): Promise<MessageDto[]> {
    return (await this.messages.afterSeq(ownerId, new Types.ObjectId(conversationId), afterSeq, limit)).map(toMessageDto);
  }

  async getById(ownerId: string, messageId: string): Promise<MessageDto> {
    const record = await this.messages.findById(ownerId, new Types.ObjectId(messageId));
    if (!record) throw messageNotFound();
    return toMessageDto(record);
  }

  /** Up to `limit` completed messages before `beforeSeq`, oldest first. */
  async contextBefore(ownerId: string, conversationId: string, beforeSeq: number, limit: number): Promise<ContextMessage[]> {
    const rows = await this.messages.recentCompleted(ownerId, new Types.ObjectId(conversationId), beforeSeq, limit);
    return rows.reverse().map(toContextMessage);
  }

  async completedBetween(ownerId: string, conversationId: string, afterSeq: number, throughSeq: number): Promise<ContextMessage[]> {
    return (await this.messages.completedBetween(ownerId, new Types.ObjectId(conversationId), afterSeq, throughSeq)).map(toContextMessage);
  }

  async completeReply(ownerId: string, messageId: string, reply: CompletedReply): Promise<MessageDto | null> {
    const record = await this.messages.complete(ownerId, new Types.ObjectId(messageId), reply);
    return record ? toMessageDto(await this.changedInPlace(record)) : null;
  }

  async failReply(
    ownerId: string,
    messageId: string,
    error: MessageError,
    partialContent: string,
    processingTime: number,
  ): Promise<MessageDto | null> {
    const record = await this.messages.fail(ownerId, new Types.ObjectId(messageId), error, partialContent, processingTime);
    return record ? toMessageDto(await this.changedInPlace(record)) : null;
  }

  async resetForRegeneration(ownerId: string, messageId: string, generation: GenerationInfo): Promise<MessageDto | null> {
    const record = await this.messages.resetForRegeneration(ownerId, new Types.ObjectId(messageId), generation);
    return record ? toMessageDto(await this.changedInPlace(record)) : null;
  }

  /**
   * A message changed in place: its conversation's history version moves on, after the change
   * (a reader that checks the version first then never caches the old message under the new one).
   */
  private async changedInPlace<T extends Pick<MessageRecord, 'conversationId'>>(record: T): Promise<T> {
    await this.conversations.messagesChanged([record.conversationId]);
    return record;
  }

  pendingRepliesBefore(conversationId: string, beforeSeq: number, updatedSince: Date): Promise<string[]> {
    return this.messages.pendingRepliesBefore(new Types.ObjectId(conversationId), beforeSeq, updatedSince);
  }

  touchPendingReply(messageId: string): Promise<void> {
    return this.messages.touchPending(new Types.ObjectId(messageId));
  }

  async failStaleReplies(staleBefore: Date, error: MessageError): Promise<number> {
    const failed = await this.messages.failStaleReplies(staleBefore, error);
    await this.conversations.messagesChanged(failed.conversationIds);
    return failed.count;
  }

  /**
   * Deletes one message of the owner's conversation (its slot is given back, so the conversation's
   * count stays exact). A reply still being written cannot be deleted, nor anything the deletion
   * guards keep (409 LEGAL_HOLD while a hold covers the conversation or its owner).
   */
  async remove(ownerId: string, conversationId: string, messageId: string): Promise<void> {
    await this.conversations.assertVisible(ownerId, conversationId);
    const objectId = new Types.ObjectId(conversationId);
    const current = await this.messages.findOne(ownerId, objectId, new Types.ObjectId(messageId));
    if (!current) throw messageNotFound();
    await this.userData.assertMayDelete({ ownerId, conversationId: objectId.toHexString() });
    if (current.status === 'pending') {
      throw new ConflictStateException(ErrorCode.REPLY_IN_PROGRESS, 'The reply is still being written; delete it once it has finished');
    }
    // Stamped before the delete: a count repair running meanwhile must not apply a count taken between the delete and the release.
    await this.conversations.beforeMessagesRemoved(ownerId, conversationId);
    const deleted = await this.messages.deleteOne(ownerId, objectId, current._id);
    if (!deleted) throw messageNotFound();
    const latest = await this.messages.latestTimestamp(ownerId, objectId);
    await this.conversations.releaseMessageSlots(ownerId, conversationId, 1, latest);
    await this.events.publishAndWait(DomainEvent.MessageDeleted, { userId: ownerId, conversationId, messageId });
  }

  /** Analytics: every message written within [from, to), oldest first, streamed (no content). */
  async *factsBetween(from: Date, to: Date): AsyncGenerator<MessageFact> {
    for await (const record of this.messages.writtenBetween(from, to)) {
      yield {
        id: record._id.toHexString(),
        conversationId: record.conversationId.toHexString(),
        userId: record.userId,
        type: record.type,
        status: record.status,
        errorCode: record.error?.code ?? null,
        agentKey: record.generation?.agentKey ?? null,
        model: record.generation?.model ?? null,
        finishReason: record.generation?.finishReason ?? null,
        processingTime: record.processingTime ?? null,
        timeToFirstToken: record.generation?.timeToFirstToken ?? null,
        promptTokens: record.tokensUsed?.prompt ?? 0,
        completionTokens: record.tokensUsed?.completion ?? 0,
        timestamp: record.timestamp,
      };
    }
  }

  /** Analytics: the search terms of the user messages written within [from, to), streamed. */
  async *questionTermsBetween(from: Date, to: Date): AsyncGenerator<QuestionTermsFact> {
    for await (const record of this.messages.questionTermsBetween(from, to)) {
      yield {
        id: record._id.toHexString(),
        conversationId: record.conversationId.toHexString(),
        userId: record.userId,
        terms: record.searchTerms ?? [],
        timestamp: record.timestamp,
      };
    }
  }

  /** Analytics: when the oldest stored message was written; null when there is none. */
  oldestMessageAt(): Promise<Date | null> {
    return this.messages.oldestTimestamp();
  }

  /** Analytics: the text of user messages by id (ids that are gone or not questions are left out). */
  async questionTexts(ids: readonly string[]): Promise<QuestionText[]> {
    const valid = ids.filter((id) => Types.ObjectId.isValid(id)).map((id) => new Types.ObjectId(id));
    if (valid.length === 0) return [];
    return (await this.messages.questionsByIds(valid)).map((record) => ({ id: record._id.toHexString(), content: record.content }));
  }

  /** The owner's messages matching a term search, newest first, streamed (search module). */
  async *search(ownerId: string, filter: MessageSearchFilter): AsyncGenerator<MessageDto> {
    for await (const record of this.messages.search(ownerId, filter)) yield toMessageDto(record);
  }

  /** A conversation's messages in order (optionally within a time range), streamed (export). */
  async *streamConversation(ownerId: string, conversationId: string, range: { from?: Date; to?: Date } = {}): AsyncGenerator<MessageDto> {
    for await (const record of this.messages.streamConversation(ownerId, new Types.ObjectId(conversationId), range)) {
      yield toMessageDto(record);
    }
  }

  /**
   * Every user's messages changed after a position and up to `until`, in change order, at most
   * `limit` (the incremental export for analytics; admin only).
   */
  async *changedSince(after: { time: Date; id: string | null }, until: Date, limit: number): AsyncGenerator<MessageChange> {
    const position = { time: after.time, id: after.id ? new Types.ObjectId(after.id) : null };
    for await (const record of this.messages.changedSince(position, until, limit)) {
      yield { userId: record.userId, updatedAt: record.updatedAt, message: toMessageDto(record) };
    }
  }

  /** Kept by the attachments module as files are added to or removed from a message. */
  async adjustAttachmentCount(ownerId: string, messageId: string, delta: number): Promise<void> {
    const record = await this.messages.adjustAttachmentCount(ownerId, new Types.ObjectId(messageId), delta);
    if (record) await this.changedInPlace(record);
  }

  async history(ownerId: string, conversationId: string, query: ListMessagesQuery): Promise<Page<MessageDto>> {
    const order = query.order ?? 'asc';
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    if (order === 'asc' && query.before !== undefined) throw cursorMisuse('before', 'order=desc');
    if (order === 'desc' && query.after !== undefined) throw cursorMisuse('after', 'order=asc');
    const scope = `messages:${conversationId}:${order}`;
    const cursorParam = order === 'asc' ? 'after' : 'before';
    const cursor = order === 'asc' ? query.after : query.before;
    const position = cursor === undefined ? undefined : decodeCursor(cursor, scope, cursorParam);

    // The version first, then the messages: a history cached under a version is never older than it.
    const version = await this.conversations.historyVersion(ownerId, conversationId).catch((error: unknown) => {
      // Deleted (or no longer theirs): what was cached of it for this caller goes too.
      if (error instanceof ResourceNotFoundException) this.cache.evictIfOwnedBy(conversationId, ownerId);
      throw error;
    });
    const cached = this.cache.page(conversationId, ownerId, version, order, limit, position, scope);
    if (cached) return cached;
    const objectId = new Types.ObjectId(conversationId);
    if (this.cache.shouldFill(conversationId, version)) {
      const whole = (await this.messages.page(ownerId, objectId, 'asc', CACHED_CONVERSATION_MAX_MESSAGES)).map(toMessageDto);
      const cached = this.cache.fill(conversationId, ownerId, version, whole);
      if (cached) return pageOf(cached, order, limit, position, scope);
      // Not the whole conversation the version counts (messages added or removed meanwhile): the store answers the page.
    } else {
      this.cache.missed();
    }
    const rows = await this.messages.page(ownerId, objectId, order, limit, position);
    return toPage(rows, limit, scope, (row) => row.timestamp, toMessageDto);
  }

  private assertContent(content: string, field: string): void {
    if (isBlank(content)) {
      throw ValidationFailedException.forField(field, `${field} must not be empty or only whitespace and invisible characters`);
    }
    // Counted in code points, so an emoji is one character as the user sees it.
    let length = 0;
    for (const _ of content) {
      length += 1;
      if (length > this.maxMessageLength) {
        throw ValidationFailedException.forField(field, `${field} must be at most ${this.maxMessageLength} characters`);
      }
    }
  }
}

function toContextMessage(record: MessageRecord): ContextMessage {
  // Messages written before token counts were stored are counted now.
  return { seq: record.seq, type: record.type, content: record.content, tokens: record.tokens ?? countTokens(record.content) };
}

function messageNotFound(): ResourceNotFoundException {
  return new ResourceNotFoundException(ErrorCode.MESSAGE_NOT_FOUND, 'Message not found');
}

function cursorMisuse(parameter: string, needs: string): AppException {
  return new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, `${parameter} can only be used with ${needs}`, [
    { field: parameter, messages: [`${parameter} can only be used with ${needs}`] },
  ]);
}
