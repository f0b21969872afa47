import { DomainEventBus } from '../common/events/domain-event-bus.js';
import { DomainEvent } from '../common/events/domain-events.js';
import { HttpStatus, Injectable } from '@nestjs/common';
import { Types } from 'mongoose';
import { AttachmentsService } from '../attachments/attachments.service.js';
import { AppException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { decodeCursor, encodeCursor } from '../common/pagination/cursor.js';
import type { ConversationDto } from '../conversations/dto/conversation.dto.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import type { MessageDto } from '../messages/dto/message.dto.js';
import { MessagesService } from '../messages/messages.service.js';
import { ExportSource, ExportedMessage, exportedAttachment } from './formats/export-model.js';

/** Messages fetched per round trip, with their attachments looked up for the batch. */
const BATCH = 200;
const DEFAULT_CHANGES_LIMIT = 10_000;
/** Changes younger than this are left for the next sync: writes in flight commit out of order. */
export const CHANGES_SETTLE_MS = 5_000;
const CHANGES_SCOPE = 'admin-export:messages';

export interface TimeRange {
  from?: Date;
  to?: Date;
}

/**
 * Reads what exports need as streams: a conversation or a user's whole history, message by
 * message in batches, never the whole of either in memory. The formats live in ./formats.
 */
@Injectable()
export class ExportService {
  constructor(
    private readonly conversations: ConversationsService,
    private readonly messages: MessagesService,
    private readonly attachments: AttachmentsService,
    private readonly events: DomainEventBus,
  ) {}

  /** One conversation of the owner (404 otherwise), with its messages to stream. */
  async conversation(ownerId: string, conversationId: string): Promise<ExportSource> {
    const conversation = await this.conversations.get(ownerId, conversationId);
    this.events.publish(DomainEvent.FeatureUsed, { userId: ownerId, feature: 'export', at: new Date() });
    return { conversation, messages: this.messagesOf(ownerId, conversation, {}) };
  }

  /** Every visible conversation of the owner active within the range, oldest first, each with its messages in the range. */
  async *history(ownerId: string, range: TimeRange): AsyncGenerator<ExportSource> {
    this.events.publish(DomainEvent.FeatureUsed, { userId: ownerId, feature: 'export', at: new Date() });
    for await (const conversation of this.conversations.streamVisible(ownerId, range)) {
      yield { conversation, messages: this.messagesOf(ownerId, conversation, range) };
    }
  }

  /**
   * Lines of the incremental export: every user's messages changed since the position, oldest
   * change first, each with the cursor to resume after it.
   */
  async *changes(query: { updatedSince?: string; cursor?: string; limit?: number }, until: Date): AsyncGenerator<string> {
    const position = query.cursor
      ? decodeCursor(query.cursor, CHANGES_SCOPE, 'cursor')
      : { key: query.updatedSince ? new Date(query.updatedSince) : new Date(0), id: null };
    const after = { time: position.key, id: position.id ? position.id.toHexString() : null };
    for await (const change of this.messages.changedSince(after, until, query.limit ?? DEFAULT_CHANGES_LIMIT)) {
      const exportCursor = encodeCursor({ scope: CHANGES_SCOPE, key: change.updatedAt, id: new Types.ObjectId(change.message.id) });
      yield `${JSON.stringify({ ...change.message, userId: change.userId, updatedAt: change.updatedAt.toISOString(), exportCursor })}\n`;
    }
  }

  static parseRange(from?: string, to?: string): TimeRange {
    const range = { from: from === undefined ? undefined : new Date(from), to: to === undefined ? undefined : new Date(to) };
    if (range.from && range.to && range.from > range.to) {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, 'from must not be after to', [
        { field: 'from', messages: ['from must not be after to'] },
      ]);
    }
    return range;
  }

  private async *messagesOf(ownerId: string, conversation: ConversationDto, range: TimeRange): AsyncGenerator<ExportedMessage> {
    let batch: MessageDto[] = [];
    for await (const message of this.messages.streamConversation(ownerId, conversation.id, range)) {
      batch.push(message);
      if (batch.length === BATCH) {
        yield* await this.withAttachments(ownerId, batch);
        batch = [];
      }
    }
    yield* await this.withAttachments(ownerId, batch);
  }

  private async withAttachments(ownerId: string, messages: MessageDto[]): Promise<ExportedMessage[]> {
    const withFiles = messages.filter((message) => message.attachmentCount > 0).map((message) => message.id);
    const attachments = await this.attachments.forMessages(ownerId, withFiles);
    return messages.map((message) => ({ ...message, attachments: (attachments.get(message.id) ?? []).map(exportedAttachment) }));
  }
}
