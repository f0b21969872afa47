import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HttpStatus, Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Types } from 'mongoose';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import type { AppConfig } from '../common/config/app-config.js';
import { AppException, ResourceNotFoundException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { readMultipartFiles } from '../common/http/multipart-reader.js';
import { newInstanceId } from '../common/jobs/lease.js';
import { AuditLog } from '../compliance/audit/audit-log.service.js';
import type { JobContext } from '../jobs/job.js';
import { JobScheduler } from '../jobs/job-scheduler.service.js';
import { LegacyImportRunDto } from './dto/legacy-import-run.dto.js';
import { LegacyImportReportFile } from './legacy-import-report.js';
import { LegacyImportRunRecord, LegacyImportRunsRepository } from './legacy-import-runs.repository.js';
import { LegacyImportBusyError, LegacyImportRoleError, LegacyImportService } from './legacy-import.service.js';

export const LEGACY_IMPORTS_JOB = 'legacy-imports';
/** Where uploaded dumps wait for their run, and reports stay: under DATA_DIR. */
export const LEGACY_IMPORTS_DIRECTORY = 'legacy-imports';
/** Every minute: a run whose instance stopped is resumed about a minute after its claim expired. */
const CRON = '* * * * *';
const CLAIM_MS = 2 * 60_000;
const MAX_ATTEMPTS = 3;
/** A run's record, report and (failed) dump are removed this long after it finished: they name people. */
const KEEP_MS = 7 * 24 * 3600 * 1000;
const BATCH = 20;
/** A busy import (another one holds the lease) is tried again at the next tick. */
const BUSY = 'busy';

export interface LegacyUpload {
  dryRun: boolean;
  defaultRole: string;
}

/**
 * The admin route's imports: the upload is stored in DATA_DIR first (so a restart resumes it),
 * then imported in the background on this instance, its progress and counts on its record; the
 * `legacy-imports` job resumes runs whose instance stopped, and removes finished runs' files.
 */
@Injectable()
export class LegacyImportRunner implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('LegacyImport');
  private readonly directory: string;
  private readonly maxBytes: number;
  private readonly instance = newInstanceId();
  private readonly shutdown = new AbortController();
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly imports: LegacyImportService,
    private readonly runs: LegacyImportRunsRepository,
    private readonly scheduler: JobScheduler,
    private readonly audit: AuditLog,
    config: ConfigService<AppConfig, true>,
  ) {
    this.directory = join(config.get('mongo', { infer: true }).dataDir, LEGACY_IMPORTS_DIRECTORY);
    this.maxBytes = config.get('legacyImport', { infer: true }).maxUploadBytes;
  }

  onModuleInit(): void {
    this.scheduler.register({ name: LEGACY_IMPORTS_JOB, cron: CRON, runOnBoot: true, run: (context) => this.tend(context) });
  }

  async onModuleDestroy(): Promise<void> {
    this.shutdown.abort(new Error('the instance is shutting down'));
    await Promise.allSettled(this.running.values());
  }

  /** Stores the uploaded dump, records the run, starts it, and answers its record (queued or running). */
  async start(
    admin: AuthenticatedUser,
    request: Readable & { headers: Record<string, string | string[] | undefined> },
    upload: LegacyUpload,
  ): Promise<LegacyImportRunDto> {
    if (!(await this.imports.hasAgent(upload.defaultRole))) {
      throw new AppException(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, `role ${upload.defaultRole} has no agent here`, [
        { field: 'role', messages: ['must be a role an agent serves (GET /chat/agents)'] },
      ]);
    }
    const id = new Types.ObjectId();
    await mkdir(this.directory, { recursive: true });
    const dumpPath = this.dumpPath(id);
    let files = 0;
    try {
      files = await readMultipartFiles(request, { maxFiles: 1, maxFileBytes: this.maxBytes }, async (part) => {
        await pipeline(part.stream, createWriteStream(dumpPath, { flags: 'wx' }));
      });
    } catch (error) {
      await rm(dumpPath, { force: true });
      throw error;
    }
    if (files === 0) {
      throw new AppException(
        HttpStatus.BAD_REQUEST,
        ErrorCode.VALIDATION_FAILED,
        'No file in the request: send the dump in the form field "file"',
        [{ field: 'file', messages: ['the legacy dump (chat_backup.json) is required'] }],
      );
    }
    let run: LegacyImportRunRecord;
    let size: number;
    try {
      ({ size } = await stat(dumpPath));
      run = await this.runs.insertQueued({
        _id: id,
        dryRun: upload.dryRun,
        defaultRole: upload.defaultRole,
        bytes: size,
        dumpedAt: new Date(),
        storedOn: hostname(),
      });
    } catch (error) {
      // A dump no run record names would never be removed: it names people.
      await rm(dumpPath, { force: true });
      throw error;
    }
    await this.audit.record({
      action: 'legacy-import.started',
      actor: { userId: admin.id, roles: admin.roles },
      target: { type: 'legacy-import', id: id.toHexString() },
      details: { dryRun: upload.dryRun, bytes: size, defaultRole: upload.defaultRole },
    });
    this.launch(id);
    return toDto(run);
  }

  async get(id: string): Promise<LegacyImportRunDto> {
    return toDto(await this.find(id));
  }

  /** The run's report, once it exists (written as the run goes). */
  async report(id: string): Promise<{ stream: Readable; size: number }> {
    await this.find(id);
    const path = this.reportPath(new Types.ObjectId(id));
    const info = await stat(path).catch(() => null);
    if (!info) throw new ResourceNotFoundException(ErrorCode.NOT_FOUND, 'The report is not written yet: the run has not started');
    return { stream: createReadStream(path), size: info.size };
  }

  private async find(id: string): Promise<LegacyImportRunRecord> {
    const run = Types.ObjectId.isValid(id) && /^[0-9a-f]{24}$/i.test(id) ? await this.runs.find(new Types.ObjectId(id)) : null;
    if (!run) throw new ResourceNotFoundException(ErrorCode.NOT_FOUND, 'No legacy import with this id');
    return run;
  }

  /** Starts the run in the background unless it runs here already. */
  private launch(id: Types.ObjectId): void {
    const key = id.toHexString();
    if (this.running.has(key) || this.shutdown.signal.aborted) return;
    const work = this.execute(id)
      .catch((error: unknown) => this.logger.error({ err: error, importId: key }, 'legacy import: the run failed unexpectedly'))
      .finally(() => this.running.delete(key));
    this.running.set(key, work);
  }

  private async execute(id: Types.ObjectId): Promise<void> {
    const run = await this.runs.claim(id, this.instance, new Date(Date.now() + CLAIM_MS), new Date());
    if (!run) return;
    const dumpPath = this.dumpPath(id);
    const report = await LegacyImportReportFile.open(this.reportPath(id), {
      file: `upload ${id.toHexString()}`,
      dryRun: run.dryRun,
      dumpedAt: run.dumpedAt,
    });
    // Stopped by shutdown, or when the run's claim was lost (another instance resumed it meanwhile).
    const claimLost = new AbortController();
    try {
      const result = await this.imports.import(createReadStream(dumpPath), {
        dryRun: run.dryRun,
        defaultRole: run.defaultRole,
        dumpedAt: run.dumpedAt,
        signal: AbortSignal.any([this.shutdown.signal, claimLost.signal]),
        report: (entry) => report.add(entry),
        onProgress: (counts) =>
          void this.runs.progress(id, this.instance, new Date(Date.now() + CLAIM_MS), { ...counts }).then(
            (held) => held || claimLost.abort(new Error('the run lost its claim: another instance took it over')),
            () => undefined,
          ),
      });
      await report.close(result);
      await this.runs.finish(id, this.instance, {
        state: 'succeeded',
        counts: { ...result.counts },
        shapes: result.shapes,
        complete: result.complete,
        error: result.error,
      });
      // The dump names people: it goes once imported (or, failing that, with the run after 7 days).
      await rm(dumpPath, { force: true }).catch((error: unknown) =>
        this.logger.warn({ err: error, importId: id.toHexString() }, 'legacy import: the imported dump could not be removed yet'),
      );
    } catch (error) {
      await report.close(null, error as Error).catch(() => undefined);
      if (claimLost.signal.aborted) return;
      if (this.shutdown.signal.aborted) {
        await this.runs.release(id, this.instance, { refundAttempt: false });
        return;
      }
      if (error instanceof LegacyImportBusyError) {
        // Another import holds the lease: this one waits its turn (the job starts it again).
        await this.runs.release(id, this.instance, { refundAttempt: true });
        this.logger.log({ importId: id.toHexString(), reason: BUSY }, `legacy import ${id.toHexString()} waits: ${error.message}`);
        return;
      }
      const message = error instanceof LegacyImportRoleError ? error.message : `the import stopped: ${(error as Error).message}`;
      await this.runs.finish(id, this.instance, { state: 'failed', counts: null, shapes: [], complete: false, error: message });
      throw error;
    }
  }

  /** The job: resumes runs whose instance stopped (and whose dump is here), removes old runs' files. */
  private async tend(context: JobContext): Promise<Record<string, number>> {
    const counts = { resumed: 0, failed: 0, removed: 0 };
    for (const run of await this.runs.waiting(hostname(), new Date(), BATCH)) {
      context.signal.throwIfAborted();
      const key = run._id.toHexString();
      if (this.running.has(key)) continue;
      if (!(await stat(this.dumpPath(run._id)).catch(() => null))) continue;
      if (run.attempts >= MAX_ATTEMPTS) {
        if (await this.runs.failUnclaimed(run._id, `interrupted ${run.attempts} times (its instance stopped while running it)`))
          counts.failed += 1;
        continue;
      }
      this.launch(run._id);
      counts.resumed += 1;
    }
    for (const run of await this.runs.finishedBefore(hostname(), new Date(Date.now() - KEEP_MS), BATCH)) {
      await rm(this.dumpPath(run._id), { force: true });
      await rm(this.reportPath(run._id), { force: true });
      await this.runs.delete(run._id);
      counts.removed += 1;
    }
    return counts;
  }

  private dumpPath(id: Types.ObjectId): string {
    return join(this.directory, `${id.toHexString()}.json`);
  }

  private reportPath(id: Types.ObjectId): string {
    return join(this.directory, `${id.toHexString()}.report.json`);
  }
}

function toDto(run: LegacyImportRunRecord): LegacyImportRunDto {
  const id = run._id.toHexString();
  return {
    id,
    state: run.state,
    dryRun: run.dryRun,
    defaultRole: run.defaultRole,
    bytes: run.bytes,
    counts: (run.counts as LegacyImportRunDto['counts']) ?? null,
    shapes: run.shapes ?? [],
    complete: run.complete ?? null,
    error: run.error ?? null,
    attempts: run.attempts,
    createdAt: run.createdAt.toISOString(),
    startedAt: run.startedAt ? run.startedAt.toISOString() : null,
    finishedAt: run.finishedAt ? run.finishedAt.toISOString() : null,
    reportUrl: `/api/v1/chat/admin/import/legacy/${id}/report`,
  };
}
