import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Types } from 'mongoose';
import { PassThrough } from 'node:stream';
import type { AppConfig } from '../../common/config/app-config.js';
import { DomainEventBus } from '../../common/events/domain-event-bus.js';
import { DomainEvent } from '../../common/events/domain-events.js';
import { newInstanceId } from '../../common/jobs/lease.js';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import { ArchiveProgress, writeDataArchive } from './archive/data-archive.writer.js';
import { ExportSpool } from './archive/export-spool.js';
import { Claim, DataExportRecord, DataExportsRepository } from './data-exports.repository.js';
import type { DataExportProgress } from './schemas/data-export.schema.js';
import { ArchiveOwners } from './storage/archive-owners.js';
import { ARCHIVE_STORE, type ArchiveRef, type ArchiveStore, type StoredArchive } from './storage/archive-store.js';

/** A run's claim lasts this long unless renewed; a claim left to expire marks the run interrupted (see DataExportsJob). */
export const CLAIM_TTL_MS = 60_000;
/** How often a run stores its progress and renews its claim. */
const HEARTBEAT_MS = 2_000;
/** A run stops when its claim could not be renewed for this long before it ends (another instance may take the job over then). */
const CLAIM_SAFETY_MS = 15_000;
/** How often a run's progress goes to the log. */
const PROGRESS_LOG_MS = 10_000;
/** Runs a job gets before it fails for good. */
export const MAX_ATTEMPTS = 3;
/** A failed attempt waits this long before the next (picked up by the scheduled job's next tick). */
const RETRY_DELAY_MS = 60_000;

class ClaimLostError extends Error {
  constructor(exportId: string) {
    super(`Lost the claim on data export ${exportId}: another instance may have taken it over, or it was erased`);
  }
}

class ShuttingDownError extends Error {
  constructor() {
    super('The instance is shutting down');
  }
}

/**
 * Runs queued data exports on this instance, one at a time: right after one is requested here
 * (`kick`), and whenever the scheduled job finds startable ones. A run claims its job (status
 * `running`, `claimedBy`, `claimedUntil`) and renews the claim with its progress every few
 * seconds; a crashed instance's claim expires and the job is run again from scratch elsewhere.
 * The archive streams from the providers straight into the archive store.
 */
@Injectable()
export class DataExportWorker implements OnModuleDestroy {
  private readonly logger = new Logger('DataExport');
  private readonly instance = newInstanceId();
  private readonly shutdown = new AbortController();
  private readonly ttlMs: number;
  private readonly shutdownWaitMs: number;
  private draining: Promise<void> | null = null;
  private kickedWhileDraining = false;

  constructor(
    private readonly jobs: DataExportsRepository,
    private readonly registry: UserDataRegistry,
    private readonly events: DomainEventBus,
    private readonly owners: ArchiveOwners,
    private readonly spool: ExportSpool,
    @Inject(ARCHIVE_STORE) private readonly store: ArchiveStore,
    config: ConfigService<AppConfig, true>,
  ) {
    this.ttlMs = config.get('compliance', { infer: true }).dataExportTtlHours * 3_600_000;
    this.shutdownWaitMs = config.get('shutdownTimeoutMs', { infer: true }) / 4;
  }

  /** Starts working through the startable queued jobs, unless this instance already is. */
  kick(): void {
    if (this.shutdown.signal.aborted) return;
    if (this.draining) {
      this.kickedWhileDraining = true;
      return;
    }
    this.draining = this.drain()
      .catch((error: unknown) => this.logger.error({ err: error }, 'data exports: could not take the next job'))
      .finally(() => {
        this.draining = null;
        if (this.kickedWhileDraining) {
          this.kickedWhileDraining = false;
          this.kick();
        }
      });
  }

  async onModuleDestroy(): Promise<void> {
    this.shutdown.abort(new ShuttingDownError());
    if (!this.draining) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.draining, new Promise((wake) => (timer = setTimeout(wake, this.shutdownWaitMs)))]);
    clearTimeout(timer);
  }

  private async drain(): Promise<void> {
    for (;;) {
      this.kickedWhileDraining = false;
      if (this.shutdown.signal.aborted) return;
      const now = new Date();
      const job = await this.jobs.claimNext(this.claim(), now);
      if (!job) return;
      await this.run(job);
    }
  }

  private claim(): Claim {
    return { instance: this.instance, until: new Date(Date.now() + CLAIM_TTL_MS) };
  }

  private async run(job: DataExportRecord): Promise<void> {
    const id = job._id.toHexString();
    const log = { exportId: id, attempt: job.attempts };
    const abort = new AbortController();
    const onShutdown = () => abort.abort(this.shutdown.signal.reason);
    this.shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    const progress: ArchiveProgress = { parts: 0, records: 0, bytes: 0, currentPart: null };
    const heartbeat = this.keepClaim(job._id, progress, abort);
    this.logger.log(log, `data export ${id}: started (attempt ${job.attempts} of ${MAX_ATTEMPTS})`);
    try {
      const ref: ArchiveRef = { exportId: id, owner: await this.owners.of(job.subjectUserId) };
      const stored = await this.produce(job, ref, progress, abort.signal);
      await this.finish(job, ref, stored, progress);
    } catch (error) {
      await this.handleFailure(job, error, abort.signal.aborted ? abort.signal.reason : null);
    } finally {
      heartbeat.stop();
      this.shutdown.signal.removeEventListener('abort', onShutdown);
    }
  }

  /** Streams the archive from the providers into the store. */
  private async produce(job: DataExportRecord, ref: ArchiveRef, progress: ArchiveProgress, signal: AbortSignal): Promise<StoredArchive> {
    const pipe = new PassThrough();
    const writing = writeDataArchive(
      pipe,
      this.registry.userDataProviders(),
      { subjectUserId: job.subjectUserId, requestedBy: job.requestedBy, generatedAt: new Date() },
      { signal, onProgress: (now) => Object.assign(progress, now), spool: this.spool },
    );
    const storing = this.store.write(ref, pipe);
    const [written, stored] = await Promise.allSettled([writing, storing]);
    if (written.status === 'rejected') throw written.reason;
    if (stored.status === 'rejected') throw stored.reason;
    return stored.value;
  }

  private async finish(job: DataExportRecord, ref: ArchiveRef, stored: StoredArchive, progress: ArchiveProgress): Promise<void> {
    const id = job._id.toHexString();
    const finishedAt = new Date();
    const expiresAt = new Date(finishedAt.getTime() + this.ttlMs);
    const ready = await this.jobs.markReady(job._id, this.instance, {
      archive: stored,
      progress: snapshot(progress),
      finishedAt,
      expiresAt,
    });
    if (!ready) {
      // Erased meanwhile (nothing may be left of it), or taken over by another instance (whose run replaces the archive).
      if (!(await this.jobs.find(job._id))) await this.store.remove(ref);
      this.logger.warn({ exportId: id }, `data export ${id}: finished, but the job was erased or taken over meanwhile; result dropped`);
      return;
    }
    this.logger.log(
      { exportId: id, records: progress.records, entries: progress.parts, size: stored.size },
      `data export ${id}: ready (${progress.records} records, ${progress.parts} entries, ${stored.size} bytes), until ${expiresAt.toISOString()}`,
    );
    this.events.publish(DomainEvent.DataExportReady, {
      userId: job.requestedBy.userId,
      exportId: id,
      subjectUserId: job.subjectUserId,
      expiresAt: expiresAt.toISOString(),
    });
  }

  private async handleFailure(job: DataExportRecord, error: unknown, abortReason: unknown): Promise<void> {
    const id = job._id.toHexString();
    const now = new Date();
    try {
      if (abortReason instanceof ClaimLostError) {
        this.logger.warn({ exportId: id }, `data export ${id}: stopped, ${abortReason.message}`);
        return;
      }
      if (abortReason instanceof ShuttingDownError) {
        await this.jobs.release(job._id, this.instance, now);
        this.logger.log({ exportId: id }, `data export ${id}: stopped by the shutdown, queued again`);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      if (job.attempts >= MAX_ATTEMPTS) {
        await this.jobs.markFailed(job._id, message, now, { instance: this.instance });
        this.logger.error({ err: error, exportId: id }, `data export ${id}: failed for good after ${job.attempts} attempts: ${message}`);
      } else {
        await this.jobs.retryLater(job._id, this.instance, message, new Date(now.getTime() + RETRY_DELAY_MS));
        this.logger.error({ err: error, exportId: id }, `data export ${id}: attempt ${job.attempts} failed, tried again later: ${message}`);
      }
    } catch (recording) {
      // Its claim expires and the scheduled job takes it from there.
      this.logger.error({ err: recording, exportId: id }, `data export ${id}: could not record the outcome of the run`);
    }
  }

  /**
   * Stores progress and renews the claim every HEARTBEAT_MS; aborts the run when the claim is
   * lost, or could not be renewed until shortly before it ends.
   */
  private keepClaim(id: Types.ObjectId, progress: ArchiveProgress, abort: AbortController): { stop(): void } {
    let confirmedUntil = Date.now() + CLAIM_TTL_MS;
    let lastLog = Date.now();
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const exportId = id.toHexString();
    const beat = async () => {
      try {
        const claim = this.claim();
        if (await this.jobs.heartbeat(id, claim, snapshot(progress))) confirmedUntil = claim.until.getTime();
        else abort.abort(new ClaimLostError(exportId));
      } catch (error) {
        this.logger.warn({ err: error, exportId }, `data export ${exportId}: could not renew its claim`);
        if (Date.now() > confirmedUntil - CLAIM_SAFETY_MS) abort.abort(new ClaimLostError(exportId));
      }
      if (Date.now() - lastLog >= PROGRESS_LOG_MS) {
        lastLog = Date.now();
        this.logger.log(
          { exportId, ...snapshot(progress) },
          `data export ${exportId}: ${progress.records} records, ${progress.parts} entries, ${progress.bytes} bytes so far` +
            (progress.currentPart ? `, writing ${progress.currentPart}` : ''),
        );
      }
      if (!stopped && !abort.signal.aborted) timer = setTimeout(() => void beat(), HEARTBEAT_MS);
    };
    timer = setTimeout(() => void beat(), HEARTBEAT_MS);
    return {
      stop: () => {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }
}

function snapshot(progress: ArchiveProgress): DataExportProgress {
  return { parts: progress.parts, records: progress.records, bytes: progress.bytes, currentPart: progress.currentPart };
}
