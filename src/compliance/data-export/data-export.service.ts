import { Inject, Injectable, Logger } from '@nestjs/common';
import mongoose, { Types } from 'mongoose';
import type { Readable } from 'node:stream';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import { AuditLog } from '../audit/audit-log.service.js';
import { ArchiveManifest, writeDataArchive } from './archive/data-archive.writer.js';
import {
  DataExportExpiredException,
  DataExportInProgressException,
  DataExportNotFoundException,
  DataExportNotReadyException,
} from './data-export.errors.js';
import type { StreamedDownload } from './data-export.http.js';
import { DataExportRecord, DataExportsRepository } from './data-exports.repository.js';
import { DataExportWorker } from './data-export.worker.js';
import type { DataExportDto } from './dto/data-export.dto.js';
import { ARCHIVE_STORE, ArchiveMissingError, type ArchiveStore } from './storage/archive-store.js';

/** Who may see a job: the one who requested it, or (admin routes) any admin. */
export type DataExportScope = 'requester' | 'admin';

export interface ArchiveDownload {
  stream: Readable;
  size: number;
  sha256: string;
  fileName: string;
}

/** A job is created held (not startable) until its audit entry is stored; the scheduled job fails one left held by a crash. */
export const HELD_UNTIL_AUDITED = new Date('9999-12-31T00:00:00Z');
/** A request that collides with an active export which finishes at that moment tries again this often. */
const CREATE_ATTEMPTS = 3;

/**
 * GDPR exports (Art. 15/20): the caller's whole archive streamed at once, and export jobs (one
 * active per subject user) whose archives are downloadable until they expire. Every export
 * requested or started, and every download, is recorded in the audit log.
 */
@Injectable()
export class DataExportService {
  private readonly logger = new Logger('DataExport');

  constructor(
    private readonly jobs: DataExportsRepository,
    private readonly worker: DataExportWorker,
    private readonly registry: UserDataRegistry,
    private readonly audit: AuditLog,
    @Inject(ARCHIVE_STORE) private readonly store: ArchiveStore,
  ) {}

  /** Queues an export of `subjectUserId`'s data; 409 DATA_EXPORT_IN_PROGRESS while one is queued or running. */
  async request(subjectUserId: string, requester: AuthenticatedUser): Promise<DataExportDto> {
    const job = await this.createJob(subjectUserId, requester);
    try {
      await this.audit.record({
        action: 'data-export.created',
        actor: { userId: requester.id, roles: requester.roles },
        subjectUserId,
        target: { type: 'data-export', id: job._id.toHexString() },
        details: { mode: 'async' },
      });
    } catch (error) {
      // An export nobody can account for must not run.
      await this.jobs.abandonQueued(job._id, 'The request could not be recorded in the audit log', new Date());
      throw error;
    }
    await this.jobs.makeStartable(job._id, new Date());
    this.worker.kick();
    const current = await this.jobs.find(job._id);
    // Erased in the instant since it was requested.
    if (!current) throw new DataExportNotFoundException();
    return toDataExportDto(current);
  }

  async get(exportId: string, caller: AuthenticatedUser, scope: DataExportScope): Promise<DataExportDto> {
    return toDataExportDto(await this.visible(exportId, caller, scope));
  }

  /** The ready archive: 409 before it is ready, 410 once expired; records the download unless `headOnly`. */
  async download(exportId: string, caller: AuthenticatedUser, scope: DataExportScope, headOnly: boolean): Promise<ArchiveDownload> {
    const job = await this.visible(exportId, caller, scope);
    if (job.status === 'expired' || (job.status === 'ready' && job.expiresAt && job.expiresAt.getTime() <= Date.now())) {
      throw new DataExportExpiredException();
    }
    if (job.status !== 'ready' || !job.archive) throw new DataExportNotReadyException(job.status);
    let stream: Readable;
    try {
      stream = await this.store.read({ exportId, subjectUserId: job.subjectUserId });
    } catch (error) {
      if (!(error instanceof ArchiveMissingError)) throw error;
      this.logger.warn({ exportId }, `data export ${exportId}: ready, but its archive is not in the ${this.store.driver} store`);
      throw new DataExportExpiredException('This data export’s archive is no longer stored; request a new one');
    }
    if (!headOnly) {
      try {
        await this.audit.record({
          action: 'data-export.downloaded',
          actor: { userId: caller.id, roles: caller.roles },
          subjectUserId: job.subjectUserId,
          target: { type: 'data-export', id: exportId },
          details: { mode: 'async', size: job.archive.size, sha256: job.archive.sha256 },
        });
      } catch (error) {
        stream.destroy();
        throw error;
      }
    }
    return {
      stream,
      size: job.archive.size,
      sha256: job.archive.sha256,
      fileName: archiveFileName(job.subjectUserId, job.createdAt, exportId),
    };
  }

  /** Records the start of a synchronous export of the caller's own data (before any of it is read). */
  async startNow(caller: AuthenticatedUser): Promise<{ fileName: string; generatedAt: Date }> {
    const generatedAt = new Date();
    await this.audit.record({
      action: 'data-export.created',
      actor: { userId: caller.id, roles: caller.roles },
      subjectUserId: caller.id,
      details: { mode: 'sync' },
    });
    return { fileName: archiveFileName(caller.id, generatedAt), generatedAt };
  }

  /** Writes the caller's whole archive to `output`, as the providers stream it. */
  writeNow(
    caller: AuthenticatedUser,
    generatedAt: Date,
    output: NodeJS.WritableStream & { destroy(error?: Error): void },
  ): Promise<ArchiveManifest> {
    return writeDataArchive(output, this.registry.userDataProviders(), {
      subjectUserId: caller.id,
      requestedBy: { userId: caller.id, roles: caller.roles },
      generatedAt,
    });
  }

  /** After a synchronous export was sent: the download is recorded; a cut one is logged. */
  async finishedNow(caller: AuthenticatedUser, sent: StreamedDownload): Promise<void> {
    if (!sent.completed) {
      this.logger.error(
        { err: sent.error, bytes: sent.bytes },
        `data export of ${caller.id}: cut after ${sent.bytes} bytes: ${sent.error.message}`,
      );
      return;
    }
    try {
      await this.audit.record({
        action: 'data-export.downloaded',
        actor: { userId: caller.id, roles: caller.roles },
        subjectUserId: caller.id,
        details: { mode: 'sync', size: sent.bytes, sha256: sent.sha256 },
      });
    } catch (error) {
      // The archive is already with the caller; what is missing is the record of it.
      this.logger.error({ err: error }, `data export of ${caller.id}: sent, but the download could not be recorded in the audit log`);
    }
  }

  private async createJob(subjectUserId: string, requester: AuthenticatedUser): Promise<DataExportRecord> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.jobs.createHeld(subjectUserId, { userId: requester.id, roles: requester.roles }, new Date(), HELD_UNTIL_AUDITED);
      } catch (error) {
        if (!(error instanceof mongoose.mongo.MongoServerError && error.code === 11000)) throw error;
      }
      const active = await this.jobs.findActive(subjectUserId);
      if (active) throw new DataExportInProgressException({ exportId: active._id.toHexString(), status: active.status });
      // The active one finished between the insert and the look-up: the slot is free again.
      if (attempt === CREATE_ATTEMPTS) throw new DataExportInProgressException({ exportId: null, status: 'finishing' });
    }
  }

  private async visible(exportId: string, caller: AuthenticatedUser, scope: DataExportScope): Promise<DataExportRecord> {
    const job = await this.jobs.find(new Types.ObjectId(exportId));
    if (!job || (scope === 'requester' && job.requestedBy.userId !== caller.id)) throw new DataExportNotFoundException();
    return job;
  }
}

export function toDataExportDto(job: DataExportRecord): DataExportDto {
  return {
    id: job._id.toHexString(),
    subjectUserId: job.subjectUserId,
    requestedBy: { userId: job.requestedBy.userId, roles: [...job.requestedBy.roles] },
    status: job.status,
    progress: {
      parts: job.progress?.parts ?? 0,
      records: job.progress?.records ?? 0,
      bytes: job.progress?.bytes ?? 0,
      currentPart: job.progress?.currentPart ?? null,
    },
    attempts: job.attempts,
    error: job.error ?? null,
    archive: job.archive ? { size: job.archive.size, sha256: job.archive.sha256 } : null,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    expiresAt: job.expiresAt?.toISOString() ?? null,
  };
}

/** `wms-chat-data-export-<subject>-<date>[-<export id>].zip` (Content-Disposition makes any subject id safe). */
function archiveFileName(subjectUserId: string, at: Date, exportId?: string): string {
  return `wms-chat-data-export-${subjectUserId}-${at.toISOString().slice(0, 10)}${exportId ? `-${exportId}` : ''}.zip`;
}
