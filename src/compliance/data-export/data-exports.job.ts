import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { JobContext } from '../../jobs/job.js';
import { JobScheduler } from '../../jobs/job-scheduler.service.js';
import { ExportSpool } from './archive/export-spool.js';
import { HELD_UNTIL_AUDITED } from './data-export.service.js';
import { DataExportWorker, MAX_ATTEMPTS } from './data-export.worker.js';
import { DataExportsRepository } from './data-exports.repository.js';
import { ArchiveOwners } from './storage/archive-owners.js';
import { ARCHIVE_STORE, type ArchiveStore } from './storage/archive-store.js';

export const DATA_EXPORTS_JOB = 'data-exports';
/** Every minute: an interrupted export is resumed within about a minute of its claim expiring. */
const CRON = '* * * * *';
const BATCH = 100;
/** A request that inserted its job but never got to audit it (the instance died) is given up after this. */
const HELD_GRACE_MS = 5 * 60_000;

export interface DataExportsJobResult extends Record<string, number> {
  /** Interrupted runs (claim expired) queued again, to run from scratch. */
  resumed: number;
  /** Interrupted runs that had used up their attempts, and requests that never completed. */
  failed: number;
  /** Archives past their expiry removed. */
  expired: number;
  /** Queued exports that may start now, handed to this instance's worker. */
  startable: number;
  /** Spool directories (CSV renderings) left by runs that died part-way, removed. */
  spools: number;
}

/**
 * Looks after data export jobs across instances: resumes runs whose instance stopped (their
 * claim expired: queued again, or failed after MAX_ATTEMPTS with the last error), fails requests
 * left half-made, removes archives past their expiry (status `expired`) and the spool
 * directories of exports whose process died (message texts in CSV must not stay on disk), and
 * sets this instance's worker on whatever is startable (a retry whose delay has passed, a job of
 * a stopped instance).
 */
@Injectable()
export class DataExportsJob implements OnModuleInit {
  private readonly logger = new Logger('DataExport');

  constructor(
    private readonly scheduler: JobScheduler,
    private readonly jobs: DataExportsRepository,
    private readonly worker: DataExportWorker,
    private readonly owners: ArchiveOwners,
    private readonly spool: ExportSpool,
    @Inject(ARCHIVE_STORE) private readonly store: ArchiveStore,
  ) {}

  onModuleInit(): void {
    this.scheduler.register({ name: DATA_EXPORTS_JOB, cron: CRON, runOnBoot: true, run: (context) => this.run(context) });
  }

  async run(context: JobContext): Promise<DataExportsJobResult> {
    const now = new Date();
    const counts: DataExportsJobResult = { resumed: 0, failed: 0, expired: 0, startable: 0, spools: 0 };
    await this.resumeInterrupted(now, counts, context);
    await this.failHalfMadeRequests(now, counts, context);
    await this.expireArchives(now, counts, context);
    counts.startable = await this.jobs.countStartable(now);
    if (counts.startable > 0) this.worker.kick();
    // Last: a spool the disk will not let go of fails the run (recorded) without holding up the jobs above.
    counts.spools = await this.spool.sweep(now);
    return counts;
  }

  private async resumeInterrupted(now: Date, counts: DataExportsJobResult, context: JobContext): Promise<void> {
    for (;;) {
      context.signal.throwIfAborted();
      const batch = await this.jobs.interrupted(now, BATCH);
      let changed = 0;
      for (const job of batch) {
        const id = job._id.toHexString();
        if (job.attempts >= MAX_ATTEMPTS) {
          const error = `Interrupted ${job.attempts} times (its instance stopped while running it)${job.error ? `; last error: ${job.error}` : ''}`;
          if (await this.jobs.markFailed(job._id, error, now, { expiredBefore: now })) {
            changed += 1;
            counts.failed += 1;
            this.logger.error({ exportId: id }, `data export ${id}: ${error}; failed for good`);
          }
        } else if (await this.jobs.requeueInterrupted(job._id, now)) {
          changed += 1;
          counts.resumed += 1;
          this.logger.warn({ exportId: id }, `data export ${id}: interrupted on ${job.claimedBy ?? 'an instance'}, queued to run again`);
        }
      }
      if (batch.length < BATCH || changed === 0) return;
      await context.progress(`${counts.resumed} interrupted exports resumed, ${counts.failed} failed`, counts);
    }
  }

  private async failHalfMadeRequests(now: Date, counts: DataExportsJobResult, context: JobContext): Promise<void> {
    for (;;) {
      context.signal.throwIfAborted();
      const batch = await this.jobs.staleHeld(HELD_UNTIL_AUDITED, new Date(now.getTime() - HELD_GRACE_MS), BATCH);
      let changed = 0;
      for (const job of batch) {
        if (await this.jobs.abandonQueued(job._id, 'The request did not complete (its instance stopped before recording it)', now)) {
          changed += 1;
          counts.failed += 1;
        }
      }
      if (batch.length < BATCH || changed === 0) return;
      await context.progress(`${counts.failed} exports failed`, counts);
    }
  }

  /** The archive goes first: a crash in between leaves a ready job whose archive is gone, found again next run. */
  private async expireArchives(now: Date, counts: DataExportsJobResult, context: JobContext): Promise<void> {
    for (;;) {
      context.signal.throwIfAborted();
      const batch = await this.jobs.expiredReady(now, BATCH);
      let changed = 0;
      for (const job of batch) {
        await this.store.remove(await this.owners.refOf(job));
        if (await this.jobs.markExpired(job._id)) {
          changed += 1;
          counts.expired += 1;
        }
      }
      if (batch.length < BATCH || changed === 0) return;
      await context.progress(`${counts.expired} expired archives removed`, counts);
    }
  }
}
