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
import { DEFAULT_MAX_IMAGE_PIXELS, Extraction, ExtractionLimits, OcrEngine, extract, isPlainText } from './extractors.js';
import { ParserJob, ParserKilled, ParserSandbox, ParserStopped } from './parser-sandbox.js';
import { ProcessingFailure } from './processing-failure.js';

/** How long an instance holds an attachment besides the parser's own deadline; a crashed instance's claim runs out after this. */
const CLAIM_MS = 5 * 60_000;
const MAX_ATTEMPTS = 3;
const RETRY_DELAYS_MS = [2_000, 15_000];
const SWEEP_INTERVAL_MS = 60_000;
const SWEEP_BATCH = 100;
/** A file whose parser crashed, timed out, or went down with the process this many times is quarantined. */
export const QUARANTINE_AFTER_CRASHES = 2;
const DEFAULT_PARSER_MEMORY_MB = 1024;
const DEFAULT_PARSER_TIMEOUT_MS = 60_000;

/**
 * Processes new attachments in the background with bounded concurrency: text extraction,
 * thumbnails, media metadata, OCR. Each attachment is claimed in the store first, so several
 * instances never process the same file twice; pending work left by a crash (claim expired) is
 * found by the sweep at boot and every minute. Damaged files fail at once with a reason;
 * other errors are retried before the attachment is marked failed.
 *
 * Everything but plain text is parsed in the parser sandbox (a child process per file, with
 * memory, time and unpacked-size limits; see parser-sandbox.ts). Each parser run is counted in
 * the store before it starts and uncounted when it answers, so a run that is killed, crashes, or
 * goes down with this process stays counted: a file with QUARANTINE_AFTER_CRASHES such runs is
 * failed and quarantined (`quarantined: true`), never parsed again, even after a restart.
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
  private readonly maxPixels: number;
  private readonly tesseractBinary: string;
  private readonly claimMs: number;
  private readonly parserTimeoutMs: number;
  private readonly sandbox: ParserSandbox;
  private sweeper?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly attachments: AttachmentsRepository,
    @Inject(ATTACHMENT_STORAGE) private readonly storage: AttachmentStorage,
    private readonly events: DomainEventBus,
    config: ConfigService<AppConfig, true>,
  ) {
    const settings = config.get('attachments', { infer: true });
    const parser = config.get('attachmentParser', { infer: true });
    this.concurrency = settings.processingConcurrency;
    this.limits = {
      maxChars: settings.maxExtractedChars,
      maxBytes: settings.maxExtractionMb * 1024 * 1024,
      tesseract: new OcrEngine(settings.tesseractBinary),
    };
    this.tesseractBinary = settings.tesseractBinary;
    // The fallbacks only serve configurations built without this section (stubs in unit tests).
    this.maxPixels = parser.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS;
    const limits = { memoryMb: parser.memoryMb ?? DEFAULT_PARSER_MEMORY_MB, timeoutMs: parser.timeoutMs ?? DEFAULT_PARSER_TIMEOUT_MS };
    this.parserTimeoutMs = limits.timeoutMs;
    this.claimMs = CLAIM_MS + limits.timeoutMs;
    this.sandbox = new ParserSandbox(limits, {
      onKill: (code, detail) => this.logger.warn({ code, detail }, 'Parser killed'),
    });
  }

  /**
   * The sweep stays a timer of each instance rather than a scheduled job: it is how this
   * instance's own work queue pulls pending attachments (the ones it was not handed directly, and
   * those whose claim ran out), and every instance should pull, so the work spreads over all of
   * them. Processing each file once across instances is already ensured by the claim in the
   * store; a job's lease would funnel all recovered work to whichever instance holds it, and its
   * run records would only say "queued".
   */
  onApplicationBootstrap(): void {
    if (!this.sandbox.isAvailable()) this.logger.error('The parser sandbox code is missing: files other than plain text will fail');
    void this.sweep();
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS).unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweeper);
    this.timers.forEach((timer) => clearTimeout(timer));
    this.queue.length = 0;
    this.sandbox.stop();
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
      const crashes = attachment.parserCrashes ?? 0;
      if (crashes >= QUARANTINE_AFTER_CRASHES) {
        await this.fail(
          attachment,
          {
            code: 'PARSER_CRASHED',
            message: `Reading this file was cut short ${crashes} times, the last time by the service stopping; it is stored but will not be read again`,
          },
          true,
        );
        return;
      }
      const extraction = isPlainText(attachment.mimeType)
        ? await extract(
            { mimeType: attachment.mimeType, fileSize: attachment.fileSize, open: () => this.storage.read(attachment.storage.key) },
            this.limits,
          )
        : await this.parse(attachment);
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
   * Parses the file in the sandbox. The run is counted in the store before the parser starts and
   * uncounted once it answers (whatever the answer): a run that never answers stays counted.
   */
  private async parse(attachment: AttachmentRecord): Promise<Extraction> {
    const input = await this.storage.read(attachment.storage.key);
    const job: ParserJob = {
      mimeType: attachment.mimeType,
      fileSize: attachment.fileSize,
      maxChars: this.limits.maxChars,
      maxBytes: this.limits.maxBytes,
      maxPixels: this.maxPixels,
      tesseractBinary: this.tesseractBinary,
      timeoutMs: this.parserTimeoutMs,
    };
    try {
      await this.attachments.beginParse(attachment._id);
    } catch (error) {
      input.destroy();
      throw error;
    }
    let answered = true;
    try {
      return await this.sandbox.run(job, input);
    } catch (error) {
      answered = !(error instanceof ParserKilled);
      throw error;
    } finally {
      if (answered) {
        await this.attachments.endParse(attachment._id).catch((error: unknown) => {
          this.logger.warn({ err: error, attachmentId: attachment._id.toHexString() }, 'Could not record the end of a parser run');
        });
      }
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
      const claimed = await this.attachments.claim(id, now, new Date(now.getTime() + this.claimMs));
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
    try {
      if (error instanceof ParserStopped) {
        // Shutting down: the file is no worse for it; the next sweep (here or elsewhere) takes it up.
        await this.attachments.release(id, new Date());
        return;
      }
      if (error instanceof ParserKilled) {
        await this.onParserKilled(attachment, error);
        return;
      }
      const permanent = error instanceof ProcessingFailure;
      const attempts = attachment.processingAttempts;
      if (!permanent && attempts < MAX_ATTEMPTS) {
        this.logger.warn({ err: error, attachmentId: id.toHexString(), attempts }, 'Attachment processing failed; will retry');
        await this.retryLater(id, RETRY_DELAYS_MS[attempts - 1] ?? RETRY_DELAYS_MS.at(-1)!);
        return;
      }
      const reason = permanent
        ? { code: error.code, message: error.message }
        : { code: 'PROCESSING_ERROR', message: 'The file could not be processed; it is stored and can be downloaded' };
      if (!permanent) this.logger.error({ err: error, attachmentId: id.toHexString(), attempts }, 'Attachment processing failed');
      await this.fail(attachment, reason, false);
    } catch (storeError) {
      // The claim runs out and the sweep tries again.
      this.logger.warn({ err: storeError, attachmentId: id.toHexString() }, 'Could not record the processing outcome');
    }
  }

  /**
   * A parser that passed its memory limit fails the file at once (it would again). One that timed
   * out or crashed is given one more chance (the machine may have been busy); the next such run
   * quarantines the file.
   */
  private async onParserKilled(attachment: AttachmentRecord, error: ParserKilled): Promise<void> {
    const crashes = (attachment.parserCrashes ?? 0) + 1;
    const quarantine = crashes >= QUARANTINE_AFTER_CRASHES;
    const context = { attachmentId: attachment._id.toHexString(), code: error.code, crashes, mimeType: attachment.mimeType };
    if (error.code === 'PARSER_MEMORY_LIMIT' || quarantine) {
      this.logger.warn(context, quarantine ? 'Attachment quarantined' : 'Attachment failed: parser limit');
      const message = quarantine ? `${error.message} (tried ${crashes} times; it will not be read again)` : error.message;
      await this.fail(attachment, { code: error.code, message }, quarantine);
      return;
    }
    this.logger.warn(context, 'Parser killed; will retry once');
    await this.retryLater(attachment._id, RETRY_DELAYS_MS[0]!);
  }

  private async retryLater(id: Types.ObjectId, delay: number): Promise<void> {
    await this.attachments.release(id, new Date(Date.now() + delay));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.enqueue(id);
    }, delay).unref();
    this.timers.add(timer);
  }

  private async fail(attachment: AttachmentRecord, reason: { code: string; message: string }, quarantined: boolean): Promise<void> {
    const updated = await this.attachments.markFailed(attachment._id, reason, attachment.metadata ?? {}, new Date(), { quarantined });
    if (updated) this.publish(DomainEvent.AttachmentFailed, updated);
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
