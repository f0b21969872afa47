import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Types } from 'mongoose';
import { Readable } from 'node:stream';
import type { AppConfig } from '../../common/config/app-config.js';
import { DomainEventBus } from '../../common/events/domain-event-bus.js';
import { DomainEvent } from '../../common/events/domain-events.js';
import { toAttachmentDto } from '../attachment.mapper.js';
import { AttachmentRecord, AttachmentsRepository, ProcessingOutcome } from '../attachments.repository.js';
import { ATTACHMENT_STORAGE, type AttachmentStorage, storageKeyFor } from '../storage/attachment-storage.js';
import { Extraction, ExtractionLimits, OcrEngine, ProcessingFailure, extract } from './extractors.js';

/** How long a worker holds an attachment; a crashed worker's claim runs out after this. */
const CLAIM_MS = 5 * 60_000;
const MAX_ATTEMPTS = 3;
const RETRY_DELAYS_MS = [2_000, 15_000];
const SWEEP_INTERVAL_MS = 60_000;
const SWEEP_BATCH = 100;

/**
 * Processes new attachments in the background with bounded concurrency: text extraction,
 * thumbnails, media metadata, OCR. Each attachment is claimed in the store first, so several
 * instances never process the same file twice; pending work left by a crash (claim expired) is
 * found by the sweep at boot and every minute. Damaged files fail at once with a reason;
 * other errors are retried before the attachment is marked failed.
 */
@Injectable()
export class AttachmentProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('AttachmentProcessor');
  private readonly queue: Types.ObjectId[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly concurrency: number;
  private readonly limits: ExtractionLimits;
  private sweeper?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly attachments: AttachmentsRepository,
    @Inject(ATTACHMENT_STORAGE) private readonly storage: AttachmentStorage,
    private readonly events: DomainEventBus,
    config: ConfigService<AppConfig, true>,
  ) {
    const settings = config.get('attachments', { infer: true });
    this.concurrency = settings.processingConcurrency;
    this.limits = {
      maxChars: settings.maxExtractedChars,
      maxBytes: settings.maxExtractionMb * 1024 * 1024,
      tesseract: new OcrEngine(settings.tesseractBinary),
    };
  }

  onApplicationBootstrap(): void {
    void this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS).unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    this.timers.forEach((timer) => clearTimeout(timer));
    this.queue.length = 0;
    await Promise.allSettled([...this.running]);
  }

  enqueue(id: Types.ObjectId): void {
    if (this.stopped || this.queued.has(id.toHexString())) return;
    this.queued.add(id.toHexString());
    this.queue.push(id);
    this.pump();
  }

  /** Queues pending attachments nobody holds. */
  async sweep(): Promise<void> {
    try {
      for (const id of await this.attachments.unclaimedPending(new Date(), SWEEP_BATCH)) this.enqueue(id);
    } catch (error) {
      this.logger.warn({ err: error }, 'Could not look for pending attachments');
    }
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.concurrency && this.queue.length > 0) {
      const id = this.queue.shift()!;
      const task = this.process(id).finally(() => {
        this.queued.delete(id.toHexString());
        this.running.delete(task);
        this.pump();
      });
      this.running.add(task);
    }
  }

  private async process(id: Types.ObjectId): Promise<void> {
    let attachment: AttachmentRecord | null;
    try {
      attachment = await this.claim(id);
    } catch (error) {
      this.logger.warn({ err: error, attachmentId: id.toHexString() }, 'Could not claim attachment');
      return;
    }
    if (!attachment) return;
    const started = Date.now();
    try {
      const extraction = await extract(
        { mimeType: attachment.mimeType, fileSize: attachment.fileSize, open: () => this.storage.read(attachment.storage.key) },
        this.limits,
      );
      const outcome = await this.store(attachment, extraction);
      const updated = await this.attachments.markProcessed(id, outcome, new Date());
      if (!updated) {
        // Deleted while it was being processed: what was just stored belongs to nobody.
        await this.removeDerived(outcome);
        return;
      }
      if (outcome.content) await this.storage.remove(attachment.storage.key);
      this.logger.log({ attachmentId: id.toHexString(), ms: Date.now() - started }, 'Attachment processed');
      this.publish(DomainEvent.AttachmentProcessed, updated);
    } catch (error) {
      await this.onError(attachment, error);
    }
  }

  /**
   * Claims the attachment, or null when it is not pending or someone else holds it. The embedded
   * store can answer "no match" to a conditional update that raced another write, so a miss on
   * an attachment that is still free is tried again.
   */
  private async claim(id: Types.ObjectId): Promise<AttachmentRecord | null> {
    for (let attempt = 1; ; attempt += 1) {
      const now = new Date();
      const claimed = await this.attachments.claim(id, now, new Date(now.getTime() + CLAIM_MS));
      if (claimed || attempt >= 3) return claimed;
      const current = await this.attachments.findById(id);
      const free = current?.processingStatus === 'pending' && (current.claimedUntil === null || current.claimedUntil <= now);
      if (!free) return null;
    }
  }

  /** Writes what processing produced beside the original and says where it is. */
  private async store(attachment: AttachmentRecord, extraction: Extraction): Promise<ProcessingOutcome> {
    const id = attachment._id.toHexString();
    const outcome: ProcessingOutcome = { extractedText: extraction.extractedText, metadata: extraction.metadata, thumbnail: null };
    if (extraction.thumbnail) {
      const key = storageKeyFor(attachment.userId, id, 'thumbnail');
      const written = await this.storage.write(key, Readable.from([extraction.thumbnail.bytes]), attachment.userId);
      const { mimeType, width, height } = extraction.thumbnail;
      outcome.thumbnail = { storage: { driver: this.storage.driver, key }, mimeType, width, height, fileSize: written.size };
    }
    if (extraction.replacement) {
      const key = storageKeyFor(attachment.userId, id, 'clean');
      const written = await this.storage.write(key, Readable.from([extraction.replacement]), attachment.userId);
      outcome.content = { fileSize: written.size, sha256: written.sha256, storage: { driver: this.storage.driver, key } };
    }
    return outcome;
  }

  private async removeDerived(outcome: ProcessingOutcome): Promise<void> {
    if (outcome.thumbnail) await this.storage.remove(outcome.thumbnail.storage.key);
    if (outcome.content) await this.storage.remove(outcome.content.storage.key);
  }

  private async onError(attachment: AttachmentRecord, error: unknown): Promise<void> {
    const id = attachment._id;
    const permanent = error instanceof ProcessingFailure;
    const attempts = attachment.processingAttempts;
    try {
      if (!permanent && attempts < MAX_ATTEMPTS) {
        const delay = RETRY_DELAYS_MS[attempts - 1] ?? RETRY_DELAYS_MS.at(-1)!;
        this.logger.warn({ err: error, attachmentId: id.toHexString(), attempts }, 'Attachment processing failed; will retry');
        await this.attachments.release(id, new Date(Date.now() + delay));
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.enqueue(id);
        }, delay).unref();
        this.timers.add(timer);
        return;
      }
      const reason = permanent
        ? { code: error.code, message: error.message }
        : { code: 'PROCESSING_ERROR', message: 'The file could not be processed; it is stored and can be downloaded' };
      if (!permanent) this.logger.error({ err: error, attachmentId: id.toHexString(), attempts }, 'Attachment processing failed');
      const updated = await this.attachments.markFailed(id, reason, attachment.metadata ?? {}, new Date());
      if (updated) this.publish(DomainEvent.AttachmentFailed, updated);
    } catch (storeError) {
      // The claim runs out and the sweep tries again.
      this.logger.warn({ err: storeError, attachmentId: id.toHexString() }, 'Could not record the processing outcome');
    }
  }

  private publish(event: typeof DomainEvent.AttachmentProcessed | typeof DomainEvent.AttachmentFailed, record: AttachmentRecord): void {
    this.events.publish(event, {
      userId: record.userId,
      conversationId: record.conversationId.toHexString(),
      messageId: record.messageId.toHexString(),
      attachmentId: record._id.toHexString(),
      attachment: toAttachmentDto(record),
    });
  }
}
