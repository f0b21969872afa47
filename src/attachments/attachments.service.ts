import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { OnEvent } from '@nestjs/event-emitter';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Types } from 'mongoose';
import type { AppConfig } from '../common/config/app-config.js';
import { AppException, ConflictStateException, ResourceNotFoundException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { DomainEventBus } from '../common/events/domain-event-bus.js';
import { DomainEvent, type ConversationEventPayload, type MessageDeletedPayload } from '../common/events/domain-events.js';
import { countTokens } from '../common/text/tokenizer.js';
import { UserDataRegistry } from '../common/user-data/user-data.registry.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import { MessagesService } from '../messages/messages.service.js';
import { toAttachmentDto } from './attachment.mapper.js';
import type { AttachmentFact } from '../common/analytics/analytics-facts.js';
import { AttachmentRecord, AttachmentSearchFilter, AttachmentsRepository } from './attachments.repository.js';
import { AttachmentDto } from './dto/attachment.dto.js';
import { AttachmentProcessor } from './processing/attachment-processor.js';
import { REMOVED_STORAGE_DRIVER, type StoredObject } from './schemas/attachment.schema.js';
import {
  ATTACHMENT_STORAGE,
  type AttachmentStorage,
  type ByteRange,
  StoredFileMissingError,
  storageKeyFor,
} from './storage/attachment-storage.js';
import { FileTypeRefusedError, SNIFF_BYTES, sanitizeFileName, sniffFileType } from './upload/file-policy.js';
import { readHead } from './upload/head-reader.js';
import { IncomingFilePart, formatMb, readMultipartFiles } from '../common/http/multipart-reader.js';
import { parseRange } from './upload/range.js';

/** The bytes of a stored file, ready to send. */
export interface FileContent {
  attachment: AttachmentDto;
  stream: Readable;
  mimeType: string;
  /** Bytes in `stream`. */
  length: number;
  /** Set for a 206 answer. */
  range?: ByteRange;
  totalSize: number;
}

export interface ContextSectionsRequest {
  ownerId: string;
  conversationId: string;
  maxTokens: number;
}

const CONTEXT_ATTACHMENTS = 5;
/** Read-ahead while streaming an upload to storage: enough to keep the disk busy, small per request. */
const STREAM_BUFFER_BYTES = 1024 * 1024;

@Injectable()
export class AttachmentsService {
  private readonly logger = new Logger('Attachments');
  private readonly maxFileBytes: number;
  private readonly quotaBytes: number;
  private readonly maxFiles: number;
  /** Bytes of uploads in progress on this instance, per user (the streaming side of the quota check). */
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly attachments: AttachmentsRepository,
    @Inject(ATTACHMENT_STORAGE) private readonly storage: AttachmentStorage,
    private readonly processor: AttachmentProcessor,
    private readonly messages: MessagesService,
    private readonly conversations: ConversationsService,
    private readonly events: DomainEventBus,
    private readonly userData: UserDataRegistry,
    config: ConfigService<AppConfig, true>,
  ) {
    const chat = config.get('chat', { infer: true });
    const settings = config.get('attachments', { infer: true });
    this.maxFileBytes = chat.maxFileSizeMb * 1024 * 1024;
    this.quotaBytes = settings.userQuotaMb * 1024 * 1024;
    this.maxFiles = settings.maxFilesPerUpload;
  }

  /**
   * Stores the files of a multipart request on the owner's message, streaming each to storage
   * as it arrives. All or nothing: if any file is refused, those already stored are removed.
   */
  async upload(ownerId: string, messageId: string, request: Readable & { headers: IncomingHttpHeaders }): Promise<AttachmentDto[]> {
    const message = await this.messages.getById(ownerId, messageId);
    if (message.type !== 'user') {
      throw new ConflictStateException(ErrorCode.NOT_A_USER_MESSAGE, 'Files can only be attached to your own messages');
    }
    await this.conversations.assertVisible(ownerId, message.conversationId);

    const stored: AttachmentRecord[] = [];
    const usedAtStart = await this.attachments.usedBytes(ownerId);
    let requestBytes = 0;
    try {
      const count = await readMultipartFiles(request, { maxFiles: this.maxFiles, maxFileBytes: this.maxFileBytes }, async (part) => {
        const record = await this.storeOne(ownerId, message.conversationId, messageId, part, usedAtStart, (bytes) => {
          requestBytes += bytes;
          this.inFlight.set(ownerId, (this.inFlight.get(ownerId) ?? 0) + bytes);
        });
        stored.push(record);
      });
      if (count === 0) {
        throw new AppException(
          HttpStatus.BAD_REQUEST,
          ErrorCode.VALIDATION_FAILED,
          'No file in the request: send files in the form field "file"',
          [{ field: 'file', messages: ['at least one file is required'] }],
        );
      }
      // The authoritative check, across instances: what is stored now, this upload included.
      if ((await this.attachments.usedBytes(ownerId)) > this.quotaBytes) throw quotaExceededError(this.quotaBytes);
    } catch (error) {
      await this.discard(ownerId, stored);
      throw error;
    } finally {
      this.releaseInFlight(ownerId, requestBytes);
    }

    await this.messages.adjustAttachmentCount(ownerId, messageId, stored.length);
    const dtos = stored.map((record) => toAttachmentDto(record));
    for (const dto of dtos) {
      this.publish(DomainEvent.AttachmentCreated, ownerId, dto);
      this.processor.enqueue(new Types.ObjectId(dto.id));
    }
    return dtos;
  }

  async listForMessage(ownerId: string, messageId: string): Promise<AttachmentDto[]> {
    await this.messages.getById(ownerId, messageId);
    return (await this.attachments.forMessage(ownerId, new Types.ObjectId(messageId))).map((record) => toAttachmentDto(record));
  }

  async get(ownerId: string, id: string, includeText: boolean): Promise<AttachmentDto> {
    return toAttachmentDto(await this.require(ownerId, id), { includeText });
  }

  /** The stored bytes, or the slice a `Range` header asks for. */
  async content(ownerId: string, id: string, rangeHeader: string | undefined): Promise<FileContent> {
    const record = await this.require(ownerId, id);
    if (record.fileType === 'image' && record.processingStatus === 'pending') {
      // Until processing has removed location metadata, the original bytes are not served.
      throw new ConflictStateException(
        ErrorCode.ATTACHMENT_NOT_READY,
        'The image is still being processed; try again in a moment',
      ).withHeader('Retry-After', '1');
    }
    if (record.fileType === 'image' && record.processingStatus === 'failed') {
      throw new ConflictStateException(
        ErrorCode.ATTACHMENT_UNAVAILABLE,
        'This image could not be decoded, so its metadata (such as location) could not be removed; it is not served',
      );
    }
    const range = parseRange(rangeHeader, record.fileSize);
    if (range === 'unsatisfiable') {
      throw new AppException(
        HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
        ErrorCode.RANGE_NOT_SATISFIABLE,
        'The requested range is outside the file',
        {
          size: record.fileSize,
        },
      ).withHeader('Content-Range', `bytes */${record.fileSize}`);
    }
    const stream = await this.readStored(record, record.storage, range);
    return {
      attachment: toAttachmentDto(record),
      stream,
      mimeType: record.mimeType,
      length: range ? range.end - range.start + 1 : record.fileSize,
      range,
      totalSize: record.fileSize,
    };
  }

  async thumbnail(ownerId: string, id: string): Promise<{ stream: Readable; mimeType: string; length: number; etag: string }> {
    const record = await this.require(ownerId, id);
    if (!record.thumbnail) {
      throw new ResourceNotFoundException(
        ErrorCode.NOT_FOUND,
        record.processingStatus === 'pending' ? 'The thumbnail is not ready yet' : 'This attachment has no thumbnail',
      );
    }
    return {
      stream: await this.readStored(record, record.thumbnail.storage),
      mimeType: record.thumbnail.mimeType,
      length: record.thumbnail.fileSize,
      etag: `${record.sha256.slice(0, 32)}-thumbnail`,
    };
  }

  /** Deletes the attachment and its files, unless a deletion guard keeps them (409 LEGAL_HOLD). */
  async remove(ownerId: string, id: string): Promise<void> {
    const found = await this.require(ownerId, id);
    await this.userData.assertMayDelete({ ownerId, conversationId: found.conversationId.toHexString() });
    const record = await this.attachments.deleteOne(ownerId, found._id);
    if (!record) throw notFound();
    await this.removeFiles(record);
    await this.messages.adjustAttachmentCount(ownerId, record.messageId.toHexString(), -1).catch(() => undefined);
    this.publish(DomainEvent.AttachmentDeleted, ownerId, toAttachmentDto(record));
  }

  @OnEvent(DomainEvent.MessageDeleted)
  async onMessageDeleted(event: MessageDeletedPayload): Promise<void> {
    try {
      await this.discard(event.userId, await this.attachments.forMessage(event.userId, new Types.ObjectId(event.messageId)));
    } catch (error) {
      this.logger.error({ err: error, messageId: event.messageId }, 'Could not remove the attachments of a deleted message');
    }
  }

  /** A conversation deleted for good takes its files with it; archiving keeps them. */
  @OnEvent(DomainEvent.ConversationUpdated)
  async onConversationUpdated(event: ConversationEventPayload): Promise<void> {
    if (event.status !== 'deleted') return;
    try {
      const records: AttachmentRecord[] = [];
      for await (const record of this.attachments.storageInConversation(event.userId, new Types.ObjectId(event.conversationId))) {
        records.push(record as AttachmentRecord);
        if (records.length === 100) await this.discard(event.userId, records.splice(0));
      }
      await this.discard(event.userId, records);
    } catch (error) {
      this.logger.error({ err: error, conversationId: event.conversationId }, 'Could not remove the attachments of a deleted conversation');
    }
  }

  /** Analytics: every attachment uploaded within [from, to), oldest first, streamed. */
  async *factsBetween(from: Date, to: Date): AsyncGenerator<AttachmentFact> {
    for await (const record of this.attachments.createdBetween(from, to)) {
      yield {
        userId: record.userId,
        conversationId: record.conversationId.toHexString(),
        fileType: record.fileType,
        fileSize: record.fileSize,
        createdAt: record.createdAt,
      };
    }
  }

  /** The owner's attachments matching a term search, newest first, with their extracted text (search module). */
  async *search(ownerId: string, filter: AttachmentSearchFilter): AsyncGenerator<AttachmentDto> {
    for await (const record of this.attachments.search(ownerId, filter)) yield toAttachmentDto(record, { includeText: true });
  }

  /** Attachment metadata (no text) of some of the owner's messages, by message id (export). */
  async forMessages(ownerId: string, messageIds: string[]): Promise<Map<string, AttachmentDto[]>> {
    const byMessage = new Map<string, AttachmentDto[]>();
    if (messageIds.length === 0) return byMessage;
    const records = await this.attachments.forMessages(
      ownerId,
      messageIds.map((id) => new Types.ObjectId(id)),
    );
    for (const record of records) {
      const dto = toAttachmentDto(record);
      byMessage.set(dto.messageId, [...(byMessage.get(dto.messageId) ?? []), dto]);
    }
    return byMessage;
  }

  /**
   * Prompt sections with the text of the conversation's processed files, newest first, within
   * `maxTokens` (a file that does not fit whole is cut).
   */
  async contextSections(request: ContextSectionsRequest): Promise<string[]> {
    const records = await this.attachments.withTextInConversation(
      request.ownerId,
      new Types.ObjectId(request.conversationId),
      CONTEXT_ATTACHMENTS,
    );
    const sections: string[] = [];
    let budget = request.maxTokens;
    for (const record of records) {
      const header = `Attached file "${record.originalName}" (${record.mimeType}):\n`;
      const text = record.extractedText ?? '';
      const cost = countTokens(header + text);
      if (cost <= budget) {
        sections.push(header + text);
        budget -= cost;
        continue;
      }
      // Characters are at least a quarter token each: this cut is sure to fit.
      const room = Math.max(0, (budget - countTokens(header) - 8) * 2);
      if (room > 200) sections.push(`${header}${text.slice(0, room)}\n[…cut to fit]`);
      break;
    }
    return sections;
  }

  private async storeOne(
    ownerId: string,
    conversationId: string,
    messageId: string,
    part: IncomingFilePart,
    usedAtStart: number,
    onBytes: (bytes: number) => void,
  ): Promise<AttachmentRecord> {
    const { head, whole, release } = await readHead(part.stream, SNIFF_BYTES);
    let sniffed;
    try {
      sniffed = await sniffFileType(head, part.fileName ?? '');
    } catch (error) {
      release();
      if (error instanceof FileTypeRefusedError) {
        throw new AppException(HttpStatus.UNSUPPORTED_MEDIA_TYPE, ErrorCode.UNSUPPORTED_FILE_TYPE, error.message, {
          fileName: sanitizeFileName(part.fileName, 'bin'),
          detected: error.detected,
        });
      }
      throw error;
    }
    const id = new Types.ObjectId();
    const key = storageKeyFor(ownerId, id.toHexString());
    const quota = this.quotaBytes;
    const inFlight = this.inFlight;
    // Counted while streaming: an upload that would take the user over the quota is cut off.
    async function* metered(): AsyncGenerator<Buffer> {
      for await (const chunk of whole) {
        onBytes(chunk.length);
        if (usedAtStart + (inFlight.get(ownerId) ?? 0) > quota) throw quotaExceededError(quota);
        yield chunk;
      }
    }
    const file = await this.storage.write(
      key,
      Readable.from(metered(), { objectMode: false, highWaterMark: STREAM_BUFFER_BYTES }),
      ownerId,
    );
    try {
      return await this.attachments.insert(ownerId, {
        _id: id,
        conversationId: new Types.ObjectId(conversationId),
        messageId: new Types.ObjectId(messageId),
        fileType: sniffed.fileType,
        mimeType: sniffed.mimeType,
        extension: sniffed.extension,
        originalName: sanitizeFileName(part.fileName, sniffed.extension),
        fileSize: file.size,
        sha256: file.sha256,
        storage: { driver: this.storage.driver, key },
      });
    } catch (error) {
      await this.storage.remove(key);
      throw error;
    }
  }

  /**
   * The bytes of a stored object; 410 when they are gone: removed on purpose (the owner was
   * anonymised), or missing from storage although the record still points at them.
   */
  private async readStored(record: AttachmentRecord, stored: StoredObject, range?: ByteRange): Promise<Readable> {
    if (stored.driver === REMOVED_STORAGE_DRIVER) throw fileGone('The file of this attachment was removed');
    try {
      return await this.storage.read(stored.key, range);
    } catch (error) {
      if (!(error instanceof StoredFileMissingError)) throw error;
      this.logger.warn({ attachmentId: record._id.toHexString(), key: stored.key }, 'An attachment file is missing from storage');
      throw fileGone('The file of this attachment is no longer stored');
    }
  }

  /** Deletes records and their files (best effort for files: a leftover file is logged). */
  private async discard(ownerId: string, records: AttachmentRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.attachments.deleteMany(
      ownerId,
      records.map((record) => record._id),
    );
    await Promise.all(records.map((record) => this.removeFiles(record)));
  }

  private async removeFiles(record: Pick<AttachmentRecord, '_id' | 'storage' | 'thumbnail'>): Promise<void> {
    const original = record.storage.driver === REMOVED_STORAGE_DRIVER ? undefined : record.storage.key;
    const keys = [original, record.thumbnail?.storage.key].filter((key): key is string => key !== undefined);
    for (const key of keys) {
      try {
        await this.storage.remove(key);
      } catch (error) {
        this.logger.warn({ err: error, attachmentId: record._id.toHexString(), key }, 'Could not remove an attachment file');
      }
    }
  }

  private releaseInFlight(ownerId: string, bytes: number): void {
    const left = (this.inFlight.get(ownerId) ?? 0) - bytes;
    if (left > 0) this.inFlight.set(ownerId, left);
    else this.inFlight.delete(ownerId);
  }

  private async require(ownerId: string, id: string): Promise<AttachmentRecord> {
    const record = await this.attachments.findOne(ownerId, new Types.ObjectId(id));
    if (!record) throw notFound();
    return record;
  }

  private publish(
    event: typeof DomainEvent.AttachmentCreated | typeof DomainEvent.AttachmentDeleted,
    ownerId: string,
    attachment: AttachmentDto,
  ): void {
    this.events.publish(event, {
      userId: ownerId,
      conversationId: attachment.conversationId,
      messageId: attachment.messageId,
      attachmentId: attachment.id,
      attachment,
    });
  }
}

function quotaExceededError(quotaBytes: number): AppException {
  const mb = formatMb(quotaBytes / (1024 * 1024));
  return new AppException(
    HttpStatus.PAYLOAD_TOO_LARGE,
    ErrorCode.STORAGE_QUOTA_EXCEEDED,
    `Your attachments would exceed your storage quota of ${mb} MB; delete some files first`,
    { quotaBytes },
  );
}

function fileGone(message: string): AppException {
  return new AppException(HttpStatus.GONE, ErrorCode.ATTACHMENT_UNAVAILABLE, message);
}

function notFound(): ResourceNotFoundException {
  return new ResourceNotFoundException(ErrorCode.ATTACHMENT_NOT_FOUND, 'Attachment not found');
}
