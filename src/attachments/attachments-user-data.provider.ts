import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { Types } from 'mongoose';
import { rewriteInBatches } from '../common/user-data/batches.js';
import { UserDataRegistry } from '../common/user-data/user-data.registry.js';
import {
  addCounts,
  type ConversationDataProvider,
  type DataCounts,
  type ExportPart,
  type Pseudonymisation,
  type UserDataHolding,
  type UserDataProvider,
} from '../common/user-data/user-data.js';
import { AttachmentRecord, AttachmentsRepository, StoredFiles } from './attachments.repository.js';
import { ATTACHMENTS_COLLECTION, REMOVED_STORAGE_DRIVER } from './schemas/attachment.schema.js';
import { ATTACHMENT_STORAGE, type AttachmentStorage, storageKeyFor } from './storage/attachment-storage.js';
import { GRIDFS_BUCKET } from './storage/gridfs-storage.js';
import { sanitizeFileName } from './upload/file-policy.js';

/** The file store of attachment bytes in receipts and inventories, whichever driver holds them. */
export const ATTACHMENT_FILES_STORE = 'files:attachments';

/** Attachments whose files are removed per round: each costs a few storage calls, run together. */
const FILES_BATCH = 50;

/** Every key a file of the attachment can have been written under, by upload or by processing. */
const KEY_VARIANTS = [undefined, 'thumbnail', 'clean'] as const;

const CSV_COLUMNS = [
  'id',
  'conversationId',
  'messageId',
  'fileType',
  'mimeType',
  'originalName',
  'fileSize',
  'sha256',
  'processingStatus',
  'createdAt',
  'processedAt',
  'file',
] as const;

/**
 * A user's attachments: their records (chat_attachments) and their bytes, in whichever storage
 * driver holds them (a directory per user under ATTACHMENTS_DIR, or the GridFS bucket
 * chat_attachment_files). Files are always removed before the records that point at them, so an
 * erasure or purge stopped half-way still finds what is left through the records, and erasure
 * ends with a sweep of the user's storage for files no record points at.
 */
@Injectable()
export class AttachmentsUserDataProvider implements UserDataProvider, ConversationDataProvider, OnModuleInit {
  readonly name = 'attachments';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: ATTACHMENTS_COLLECTION,
      userFields: ['userId'],
      description:
        'Attachment records: file name, type, size, SHA-256, the text extracted from the file (OCR included), processing ' +
        'findings, the thumbnail’s place; the search terms of name and text.',
    },
    {
      store: ATTACHMENT_FILES_STORE,
      userFields: [],
      description:
        'The attached files’ bytes, with their thumbnails and metadata-stripped copies of images: with ATTACHMENT_STORAGE=local ' +
        'under ATTACHMENTS_DIR/u_<hash of the user id>/, with gridfs in the bucket chat_attachment_files.',
    },
    {
      store: `${GRIDFS_BUCKET}.files`,
      userFields: ['metadata.userId'],
      description: 'GridFS file documents (ATTACHMENT_STORAGE=gridfs): the storage key, size and owner of each stored file.',
    },
    {
      store: `${GRIDFS_BUCKET}.chunks`,
      userFields: [],
      description: 'GridFS chunks (ATTACHMENT_STORAGE=gridfs): the bytes of each stored file, found through its file document.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly attachments: AttachmentsRepository,
    @Inject(ATTACHMENT_STORAGE) private readonly storage: AttachmentStorage,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
    this.registry.registerConversationData(this);
  }

  async inventory(userId: string): Promise<DataCounts> {
    const { records, files } = await this.attachments.countOwned(userId);
    return { [ATTACHMENTS_COLLECTION]: records, [ATTACHMENT_FILES_STORE]: files };
  }

  /**
   * The records (with the extracted text: it is the user's data too), then each stored file as
   * it is stored (thumbnails are derived from them and left out).
   */
  async *export(userId: string): AsyncGenerator<ExportPart> {
    yield {
      kind: 'records',
      name: 'attachments',
      description:
        'The files you attached: name, type, size, SHA-256, processing state and findings, the text read from the file, and ' +
        '`file`, where its bytes are in this archive (null when the file itself was removed).',
      records: this.records(userId),
      csvColumns: CSV_COLUMNS,
    };
    for await (const file of this.attachments.streamFilesOwned(userId)) {
      const key = file.storage.key;
      yield {
        kind: 'file',
        path: archivePath(file),
        description: `${file.originalName} (${file.mimeType}), attached to message ${file.messageId.toHexString()}`,
        size: file.fileSize,
        open: () => this.storage.read(key),
      };
    }
  }

  async erase(userId: string): Promise<DataCounts> {
    let files = 0;
    const records = await rewriteInBatches(
      () => this.attachments.storedFilesOwned(userId, undefined, FILES_BATCH),
      async (batch) => {
        files += await this.removeFiles(batch);
        return this.attachments.deleteByIds(batch.map((attachment) => attachment._id));
      },
    );
    files += await this.storage.removeOwnedBy(userId);
    return { [ATTACHMENTS_COLLECTION]: records, [ATTACHMENT_FILES_STORE]: files };
  }

  /** Files removed, records kept under the pseudonym without name or text; then the user's storage swept. */
  async pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    const counts = await this.rewriteOwner(request, undefined);
    return addCounts(counts, { [ATTACHMENT_FILES_STORE]: await this.storage.removeOwnedBy(request.userId) });
  }

  async countForConversations(conversationIds: readonly Types.ObjectId[]): Promise<DataCounts> {
    const { records, files } = await this.attachments.countInConversations(conversationIds);
    return { [ATTACHMENTS_COLLECTION]: records, [ATTACHMENT_FILES_STORE]: files };
  }

  async purgeConversations(conversationIds: readonly Types.ObjectId[]): Promise<DataCounts> {
    let files = 0;
    const records = await rewriteInBatches(
      () => this.attachments.storedFilesInConversations(conversationIds, FILES_BATCH),
      async (batch) => {
        files += await this.removeFiles(batch);
        return this.attachments.deleteByIds(batch.map((attachment) => attachment._id));
      },
    );
    return { [ATTACHMENTS_COLLECTION]: records, [ATTACHMENT_FILES_STORE]: files };
  }

  /** Only the attachments of `request.userId` in these conversations change; others are left alone. */
  async pseudonymiseConversations(conversationIds: readonly Types.ObjectId[], request: Pseudonymisation): Promise<DataCounts> {
    if (conversationIds.length === 0) return { [ATTACHMENTS_COLLECTION]: 0, [ATTACHMENT_FILES_STORE]: 0 };
    return this.rewriteOwner(request, conversationIds);
  }

  private async rewriteOwner(request: Pseudonymisation, conversationIds: readonly Types.ObjectId[] | undefined): Promise<DataCounts> {
    let files = 0;
    const records = await rewriteInBatches(
      () => this.attachments.storedFilesOwned(request.userId, conversationIds, FILES_BATCH),
      async (batch) => {
        files += await this.removeFiles(batch);
        return this.attachments.replaceOwner(request.userId, request.pseudonym, batch, new Date());
      },
    );
    return { [ATTACHMENTS_COLLECTION]: records, [ATTACHMENT_FILES_STORE]: files };
  }

  /**
   * Removes every file of these attachments: the ones their records point at, and any other
   * variant processing may have left (an original whose stripped copy replaced it just before a
   * crash). A failure throws, so the records stay and the next attempt finds the files again.
   * Answers how many files the records pointed at.
   */
  private async removeFiles(batch: readonly StoredFiles[]): Promise<number> {
    const counts = await Promise.all(
      batch.map(async (attachment) => {
        const keys = new Set<string>(
          KEY_VARIANTS.map((variant) => storageKeyFor(attachment.userId, attachment._id.toHexString(), variant)),
        );
        const stored = attachment.storage.driver !== REMOVED_STORAGE_DRIVER;
        if (stored) keys.add(attachment.storage.key);
        if (attachment.thumbnail) keys.add(attachment.thumbnail.storage.key);
        for (const key of keys) await this.storage.remove(key);
        return (stored ? 1 : 0) + (attachment.thumbnail ? 1 : 0);
      }),
    );
    return counts.reduce((sum, count) => sum + count, 0);
  }

  private async *records(userId: string): AsyncGenerator<Record<string, unknown>> {
    for await (const record of this.attachments.streamOwned(userId)) yield toExportRecord(record);
  }
}

/** `attachments/<id>-<name>`: unique by the id, with a name that is safe as a path (no separators, no leading dot). */
function archivePath(file: Pick<AttachmentRecord, '_id' | 'originalName' | 'extension'>): string {
  return `attachments/${file._id.toHexString()}-${sanitizeFileName(file.originalName, file.extension)}`;
}

function toExportRecord(record: AttachmentRecord): Record<string, unknown> {
  const stored = record.storage.driver !== REMOVED_STORAGE_DRIVER;
  return {
    id: record._id.toHexString(),
    conversationId: record.conversationId.toHexString(),
    messageId: record.messageId.toHexString(),
    fileType: record.fileType,
    mimeType: record.mimeType,
    originalName: record.originalName,
    fileSize: record.fileSize,
    sha256: record.sha256,
    processingStatus: record.processingStatus,
    processingError: record.processingError ? { code: record.processingError.code, message: record.processingError.message } : null,
    metadata: record.metadata ?? {},
    extractedText: record.extractedText ?? null,
    thumbnail: record.thumbnail
      ? { mimeType: record.thumbnail.mimeType, width: record.thumbnail.width, height: record.thumbnail.height }
      : null,
    createdAt: record.createdAt.toISOString(),
    processedAt: record.processedAt ? record.processedAt.toISOString() : null,
    file: stored ? `files/${archivePath(record)}` : null,
  };
}
