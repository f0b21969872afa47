import { Inject, Injectable, Logger } from '@nestjs/common';
import mongoose, { Types } from 'mongoose';
import type { Readable } from 'node:stream';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import { AuditLog } from '../audit/audit-log.service.js';
import { ActiveErasures } from '../erasure/active-erasures.js';
import { writeDataArchive } from './archive/data-archive.writer.js';
import { ExportSpool } from './archive/export-spool.js';
import {
  DataExportExpiredException,
  DataExportInProgressException,
  DataExportNotFoundException,
  DataExportNotReadyException,
  ErasureInProgressException,
} from './data-export.errors.js';
import type { ArchiveOutput, StreamedDownload } from './data-export.http.js';
import { DataExportRecord, DataExportsRepository } from './data-exports.repository.js';
import { DataExportWorker } from './data-export.worker.js';
import type { DataExportDto } from './dto/data-export.dto.js';
import { ArchiveOwners } from './storage/archive-owners.js';
import { ARCHIVE_STORE, ArchiveMissingError, type ArchiveStore } from './storage/archive-store.js';

/** Who may see a job: the user whose own export it is (they requested it, of their data), or (admin routes) any admin. */
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

/** Sends the zip that `produce` writes to the client; answers what was sent. */
export type SendArchive = (fileName: string, produce: (output: ArchiveOutput) => Promise<unknown>) => Promise<StreamedDownload>;

/**
 * GDPR exports (Art. 15/20): the caller's whole archive streamed at once (one at a time per user
 * on an instance), and export jobs (one active per subject user) whose archives are downloadable
 * until they expire. No export starts while the subject is being erased or anonymised. Every
 * export requested or started, and every download, is recorded in the audit log. Logs name
 * exports by their id, never the user.
 */
@Injectable()
export class DataExportService {
  private readonly logger = new Logger('DataExport');
  /** Users whose synchronous export this instance is streaming now. */
  private readonly streaming = new Set<string>();

  constructor(
    private readonly jobs: DataExportsRepository,
    private readonly worker: DataExportWorker,
    private readonly registry: UserDataRegistry,
    private readonly audit: AuditLog,
    private readonly erasures: ActiveErasures,
    private readonly owners: ArchiveOwners,
    private readonly spool: ExportSpool,
    @Inject(ARCHIVE_STORE) private readonly store: ArchiveStore,
  ) {}

  /**
   * Queues an export of `subjectUserId`'s data; 409 DATA_EXPORT_IN_PROGRESS while one is queued or
   * running, 409 ERASURE_IN_PROGRESS while the subject is being erased or anonymised.
   */
  async request(subjectUserId: string, requester: AuthenticatedUser): Promise<DataExportDto> {
    const job = await this.createJob(subjectUserId, requester);
    try {
      // Asked only once the job exists: an erasure that starts after this look-up finds the job and deletes it.
      await this.assertNotBeingErased(subjectUserId);
      await this.audit.record({
        action: 'data-export.created',
        actor: { userId: requester.id, roles: requester.roles },
        subjectUserId,
        target: { type: 'data-export', id: job._id.toHexString() },
        details: { mode: 'async' },
      });
    } catch (error) {
      // Refused for the erasure, the request leaves nothing about the person; an export nobody can account for must not run.
      if (error instanceof ErasureInProgressException) await this.jobs.deleteOne(job._id);
      else await this.jobs.abandonQueued(job._id, 'The request could not be completed; request a new export', new Date());
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
      stream = await this.store.read(await this.owners.refOf(job));
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

  /**
   * The caller's whole archive, written as the providers stream it and sent by `send`. One at a
   * time per user on this instance (each holds cursors, a zlib stream and a spool): 409
   * DATA_EXPORT_IN_PROGRESS while another is streaming; 409 ERASURE_IN_PROGRESS while the caller
   * is being erased. The start is recorded before any data is read, the download once sent. The
   * export gets an id of its own (not a job's) that its audit entries and log lines share.
   */
  async exportNow(caller: AuthenticatedUser, send: SendArchive): Promise<void> {
    if (this.streaming.has(caller.id)) {
      throw new DataExportInProgressException(
        { exportId: null, status: 'streaming' },
        'A download of your data is already being streamed to you; wait until it has finished',
      );
    }
    this.streaming.add(caller.id);
    const exportId = new Types.ObjectId().toHexString();
    let sent: StreamedDownload;
    try {
      await this.assertNotBeingErased(caller.id);
      const generatedAt = new Date();
      await this.audit.record({
        action: 'data-export.created',
        actor: { userId: caller.id, roles: caller.roles },
        subjectUserId: caller.id,
        target: { type: 'data-export', id: exportId },
        details: { mode: 'sync' },
      });
      const produce = (output: ArchiveOutput) =>
        writeDataArchive(
          output,
          this.registry.userDataProviders(),
          { subjectUserId: caller.id, requestedBy: { userId: caller.id, roles: caller.roles }, generatedAt },
          { spool: this.spool },
        );
      sent = await send(archiveFileName(caller.id, generatedAt), produce);
    } finally {
      // Free once the archive has been sent (or failed): recording the download needs none of what the limit protects.
      this.streaming.delete(caller.id);
    }
    await this.recordSent(caller, exportId, sent);
  }

  /** After a synchronous export was sent: the download is recorded; a cut one is logged. */
  private async recordSent(caller: AuthenticatedUser, exportId: string, sent: StreamedDownload): Promise<void> {
    if (!sent.completed) {
      this.logger.error(
        { err: sent.error, exportId, bytes: sent.bytes },
        `data export ${exportId} (streamed): cut after ${sent.bytes} bytes: ${sent.error.message}`,
      );
      return;
    }
    try {
      await this.audit.record({
        action: 'data-export.downloaded',
        actor: { userId: caller.id, roles: caller.roles },
        subjectUserId: caller.id,
        target: { type: 'data-export', id: exportId },
        details: { mode: 'sync', size: sent.bytes, sha256: sent.sha256 },
      });
    } catch (error) {
      // The archive is already with the caller; what is missing is the record of it.
      this.logger.error(
        { err: error, exportId },
        `data export ${exportId} (streamed): sent, but the download could not be recorded in the audit log`,
      );
    }
  }

  private async assertNotBeingErased(subjectUserId: string): Promise<void> {
    if (await this.erasures.inProgressFor(subjectUserId)) throw new ErasureInProgressException();
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

  /** On the user's routes only their own export: an admin's export of someone else is read through the admin routes alone. */
  private async visible(exportId: string, caller: AuthenticatedUser, scope: DataExportScope): Promise<DataExportRecord> {
    const job = await this.jobs.find(new Types.ObjectId(exportId));
    const own = job !== null && job.requestedBy.userId === caller.id && job.subjectUserId === caller.id;
    if (!job || (scope === 'requester' && !own)) throw new DataExportNotFoundException();
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
