import { jest } from '@jest/globals';
import type { ConfigService } from '@nestjs/config';
import { Types } from 'mongoose';
import { Readable } from 'node:stream';
import type { AttachmentRecord, AttachmentsRepository, ProcessingOutcome } from '../../src/attachments/attachments.repository.js';
import { AttachmentProcessor } from '../../src/attachments/processing/attachment-processor.js';
import type { AttachmentStorage } from '../../src/attachments/storage/attachment-storage.js';
import type { AppConfig } from '../../src/common/config/app-config.js';
import type { DomainEventBus } from '../../src/common/events/domain-event-bus.js';

/** The store's side of processing, in memory: claims, releases and outcomes as the repository records them. */
class FakeRepository {
  readonly records = new Map<string, AttachmentRecord>();

  add(): AttachmentRecord {
    const record = {
      _id: new Types.ObjectId(),
      userId: 'u',
      conversationId: new Types.ObjectId(),
      messageId: new Types.ObjectId(),
      fileType: 'document',
      mimeType: 'text/plain',
      extension: 'txt',
      originalName: 'notes.txt',
      fileSize: 11,
      sha256: 'x',
      storage: { driver: 'fake', key: 'k' },
      processingStatus: 'pending',
      processingError: null,
      processingAttempts: 0,
      claimedUntil: null,
      extractedText: null,
      metadata: {},
      thumbnail: null,
      processedAt: null,
      createdAt: new Date(),
      updatedAt: new Date(),
    } as AttachmentRecord;
    this.records.set(record._id.toHexString(), record);
    return record;
  }

  claim(id: Types.ObjectId, now: Date, until: Date): Promise<AttachmentRecord | null> {
    const record = this.records.get(id.toHexString());
    if (!record || record.processingStatus !== 'pending' || (record.claimedUntil && record.claimedUntil > now))
      return Promise.resolve(null);
    record.claimedUntil = until;
    record.processingAttempts += 1;
    return Promise.resolve({ ...record });
  }
  findById(id: Types.ObjectId): Promise<AttachmentRecord | null> {
    return Promise.resolve(this.records.get(id.toHexString()) ?? null);
  }
  release(id: Types.ObjectId, retryAt: Date): Promise<void> {
    this.records.get(id.toHexString())!.claimedUntil = retryAt;
    return Promise.resolve();
  }
  markProcessed(id: Types.ObjectId, outcome: ProcessingOutcome): Promise<AttachmentRecord | null> {
    const record = this.records.get(id.toHexString())!;
    Object.assign(record, { processingStatus: 'processed', extractedText: outcome.extractedText, claimedUntil: null });
    return Promise.resolve({ ...record });
  }
  markFailed(id: Types.ObjectId, error: { code: string; message: string }): Promise<AttachmentRecord | null> {
    const record = this.records.get(id.toHexString())!;
    Object.assign(record, { processingStatus: 'failed', processingError: error, claimedUntil: null });
    return Promise.resolve({ ...record });
  }
  unclaimedPending(): Promise<Types.ObjectId[]> {
    return Promise.resolve([]);
  }
}

function processorWith(repository: FakeRepository, storage: Partial<AttachmentStorage>, published: string[]): AttachmentProcessor {
  const config = {
    get: () => ({ processingConcurrency: 1, maxExtractedChars: 1000, maxExtractionMb: 1, tesseractBinary: 'no-tesseract' }),
  } as unknown as ConfigService<AppConfig, true>;
  const events = { publish: (name: string) => published.push(name) } as unknown as DomainEventBus;
  return new AttachmentProcessor(repository as unknown as AttachmentsRepository, storage as AttachmentStorage, events, config);
}

const text = () => Promise.resolve(Readable.from([Buffer.from('hello dock7')], { objectMode: false }));

// Transient failures (storage, network) are retried with backoff; after three attempts the attachment fails.
describe('AttachmentProcessor retries', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }));
  afterEach(() => jest.useRealTimers());

  async function settle(repository: FakeRepository, id: Types.ObjectId, status: string): Promise<void> {
    for (let i = 0; i < 200 && repository.records.get(id.toHexString())!.processingStatus !== status; i += 1) {
      await jest.advanceTimersByTimeAsync(500);
    }
  }

  it('retries a transient storage error and then processes the file', async () => {
    const repository = new FakeRepository();
    const record = repository.add();
    let reads = 0;
    const published: string[] = [];
    const processor = processorWith(repository, { read: () => (++reads === 1 ? Promise.reject(new Error('EIO')) : text()) }, published);
    processor.enqueue(record._id);
    await settle(repository, record._id, 'processed');
    expect(repository.records.get(record._id.toHexString())).toMatchObject({
      processingStatus: 'processed',
      extractedText: 'hello dock7',
      processingAttempts: 2,
    });
    expect(reads).toBe(2);
    expect(published).toEqual(['attachment.processed']);
    await processor.onModuleDestroy();
  });

  it('marks the attachment failed after three failed attempts', async () => {
    const repository = new FakeRepository();
    const record = repository.add();
    const published: string[] = [];
    const processor = processorWith(repository, { read: () => Promise.reject(new Error('EIO')) }, published);
    processor.enqueue(record._id);
    await settle(repository, record._id, 'failed');
    expect(repository.records.get(record._id.toHexString())).toMatchObject({
      processingStatus: 'failed',
      processingAttempts: 3,
      processingError: { code: 'PROCESSING_ERROR' },
    });
    expect(published).toEqual(['attachment.failed']);
    await processor.onModuleDestroy();
  });
});
