import type { Gauge, Histogram } from 'prom-client';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import { ConfigService } from '@nestjs/config';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob, validateCronExpression } from 'cron';
import type mongoose from 'mongoose';
import type { AppConfig } from '../common/config/app-config.js';
import { Lease, Leases, newInstanceId } from '../common/jobs/lease.js';
import { AppMetrics } from '../metrics/app-metrics.js';
import { StoreStatus } from '../database/store-status.js';
import type { JobContext, JobCounts, JobDefinition, JobRunResult, JobTrigger, PreviousRun } from './job.js';
import { JobRunRecord, JobRunsRepository } from './job-runs.repository.js';

/** Whether jobs fire by themselves (cron and boot runs); command-line tools only run them on demand. */
export interface JobScheduling {
  schedule: boolean;
}
export const JOB_SCHEDULING = Symbol('JOB_SCHEDULING');

const DEFAULT_LEASE_TTL_MS = 5 * 60_000;
/** How often a boot run looks whether the store has become ready. */
const STORE_POLL_MS = 1000;
/** Runs older than this are forgotten (the last successful one, whose checkpoint the next run needs, is always kept). */
const RUN_HISTORY_MS = 30 * 24 * 60 * 60_000;
const JOB_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

interface ScheduledJob {
  definition: JobDefinition;
  cron: CronJob | null;
  inFlight: Promise<JobRunResult> | null;
}

class LeaseLostError extends Error {
  constructor(job: string) {
    super(`Lost the lease of ${job}: the run went longer than its lease without progress and another instance may have taken it over`);
  }
}

/**
 * The one scheduler for background jobs. Feature modules register their jobs (name, cron
 * expression, `run`) from a provider's `onModuleInit`; each run, whether fired by its cron
 * expression (`@nestjs/schedule`'s registry, name `job:<name>`), at boot or by `runNow`:
 *
 * - never overlaps another run of the job on this instance (a tick during a run is skipped);
 * - takes the lease `job:<name>` in `chat_job_leases`, so it happens once across instances (an
 *   instance that finds the lease held skips, and says so in the log); after a scheduled run
 *   the lease is kept until halfway to the next tick, so instances whose timers fire a little
 *   later for the same tick skip it too;
 * - is recorded in `chat_job_runs` (`running`, then `succeeded` with its counts and checkpoint, or
 *   `failed` with the error); progress goes to the log and the record, and renews the lease.
 *
 * On shutdown scheduling stops, runs in flight see their AbortSignal fire and are awaited briefly.
 */
@Injectable()
export class JobScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Jobs');
  /** This instance, as it appears in run records and lease owners. */
  readonly instance = newInstanceId();
  private readonly jobs = new Map<string, ScheduledJob>();
  private readonly shutdown = new AbortController();
  private readonly bootTimers = new Set<NodeJS.Timeout>();
  private started = false;
  /** How long shutdown waits for runs in flight (they are aborted first): a quarter of SHUTDOWN_TIMEOUT_MS. */
  private readonly shutdownWaitMs: number;
  private readonly runDuration: Histogram<'job' | 'status'>;
  private readonly lastSuccess: Gauge<'job'>;
  private readonly lastSuccesses = new Map<string, number>();

  constructor(
    @InjectConnection() private readonly connection: mongoose.Connection,
    private readonly runs: JobRunsRepository,
    private readonly registry: SchedulerRegistry,
    private readonly store: StoreStatus,
    metrics: AppMetrics,
    config: ConfigService<AppConfig, true>,
    @Inject(JOB_SCHEDULING) private readonly scheduling: JobScheduling,
  ) {
    this.shutdownWaitMs = config.get('shutdownTimeoutMs', { infer: true }) / 4;
    this.runDuration = metrics.histogram('chat_job_duration_seconds', 'Job runs on this instance, by job and outcome (succeeded, failed)', [
      'job',
      'status',
    ]);
    this.lastSuccess = metrics.gauge(
      'chat_job_last_success_timestamp_seconds',
      'When each job last succeeded (Unix time): its last stored success at boot, then this instance’s; take the max across instances',
      ['job'],
    );
  }

  /** Adds a job; call from a provider's `onModuleInit`. A job registered after boot is scheduled at once (without a boot run). */
  register(definition: JobDefinition): void {
    if (!JOB_NAME.test(definition.name)) throw new Error(`Job name "${definition.name}" must be lower-case words joined by dashes`);
    if (this.jobs.has(definition.name)) throw new Error(`Job ${definition.name} is already registered`);
    const { valid, error } = validateCronExpression(definition.cron);
    if (!valid) throw new Error(`Job ${definition.name}: bad cron expression "${definition.cron}": ${error?.message ?? 'not understood'}`);
    const job: ScheduledJob = { definition, cron: null, inFlight: null };
    this.jobs.set(definition.name, job);
    if (this.started) this.schedule(job);
  }

  onApplicationBootstrap(): void {
    this.started = true;
    if (!this.scheduling.schedule) return;
    // The last-success gauge starts from the stored runs, so an alert on it holds across restarts.
    void this.whenStoreIsReady().then(async (ready) => {
      if (ready)
        await this.loadLastSuccesses().catch((error: unknown) => this.logger.warn({ err: error }, 'job metrics: last runs not read'));
    });
    for (const job of this.jobs.values()) {
      this.schedule(job);
      if (job.definition.runOnBoot) {
        // After the boot has finished, never blocking it; failures are recorded and logged.
        const timer = setTimeout(() => {
          this.bootTimers.delete(timer);
          void this.whenStoreIsReady().then(async (ready) => {
            if (ready) await this.launch(job, 'boot');
          });
        }, 0);
        this.bootTimers.add(timer);
      }
    }
  }

  /** The boot run waits for the store (it may arrive after the boot); false when shutting down first. */
  private async whenStoreIsReady(): Promise<boolean> {
    while (!this.store.availability().available) {
      if (this.shutdown.signal.aborted) return false;
      await new Promise((wake) => setTimeout(wake, STORE_POLL_MS).unref());
    }
    return !this.shutdown.signal.aborted;
  }

  async onModuleDestroy(): Promise<void> {
    this.shutdown.abort(new Error('the instance is shutting down'));
    for (const timer of this.bootTimers) clearTimeout(timer);
    for (const job of this.jobs.values()) {
      if (job.cron && this.registry.doesExist('cron', cronName(job))) this.registry.deleteCronJob(cronName(job));
      job.cron = null;
    }
    const inFlight = [...this.jobs.values()].flatMap((job) => (job.inFlight ? [job.inFlight] : []));
    if (inFlight.length === 0) return;
    this.logger.log(`waiting up to ${this.shutdownWaitMs / 1000} s for ${inFlight.length} job run(s) to stop`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(inFlight), new Promise((wake) => (timer = setTimeout(wake, this.shutdownWaitMs)))]);
    clearTimeout(timer);
  }

  /**
   * Runs the job now (tests, admin triggers) and answers its run record: after a run of it in
   * flight on this instance has finished; skipped when another instance holds its lease.
   */
  async runNow(name: string): Promise<JobRunResult> {
    const job = this.jobs.get(name);
    if (!job) throw new Error(`No job named ${name}`);
    while (job.inFlight) await job.inFlight;
    return this.launch(job, 'manual');
  }

  /** The job's latest runs, newest first. */
  async recentRuns(name: string, limit = 20): Promise<JobRunResult[]> {
    return (await this.runs.recent(name, limit)).map(toResult);
  }

  registeredJobs(): string[] {
    return [...this.jobs.keys()];
  }

  private schedule(job: ScheduledJob): void {
    if (this.shutdown.signal.aborted || !this.scheduling.schedule) return;
    const cron = CronJob.from({ cronTime: job.definition.cron, onTick: () => void this.launch(job, 'schedule'), start: false });
    job.cron = cron;
    this.registry.addCronJob(cronName(job), cron);
    cron.start();
  }

  /** Starts a run unless one is in flight here; never rejects (a failure is a `failed` result, logged). */
  private launch(job: ScheduledJob, trigger: JobTrigger): Promise<JobRunResult> {
    const name = job.definition.name;
    if (this.shutdown.signal.aborted) return Promise.resolve(this.skipped(name, trigger, 'the instance is shutting down'));
    if (job.inFlight) {
      this.logger.log({ job: name, trigger }, `${name}: skipped, a run is still in progress on this instance`);
      return Promise.resolve(this.skipped(name, trigger, 'a run is still in progress on this instance'));
    }
    const startedAt = new Date();
    const run = this.execute(job, trigger, startedAt)
      .catch((error: unknown) => {
        this.logger.error({ err: error, job: name }, `${name}: the run could not be started or recorded`);
        return this.result(name, trigger, startedAt, { status: 'failed', error: messageOf(error) });
      })
      .then((result) => {
        this.measure(result);
        return result;
      })
      .finally(() => {
        job.inFlight = null;
      });
    job.inFlight = run;
    return run;
  }

  /** Runs that ran (not skipped) into the job metrics. */
  private measure(result: JobRunResult): void {
    if (result.status !== 'succeeded' && result.status !== 'failed') return;
    const finishedAt = result.finishedAt ?? new Date();
    this.runDuration.observe({ job: result.job, status: result.status }, (finishedAt.getTime() - result.startedAt.getTime()) / 1000);
    if (result.status === 'succeeded') this.noteSuccess(result.job, finishedAt);
  }

  /** Each job's last stored success, whichever instance ran it. */
  private async loadLastSuccesses(): Promise<void> {
    for (const name of this.jobs.keys()) {
      const last = await this.runs.lastSucceeded(name);
      if (last?.finishedAt) this.noteSuccess(name, last.finishedAt);
    }
  }

  private noteSuccess(job: string, at: Date): void {
    const seconds = at.getTime() / 1000;
    if (seconds > (this.lastSuccesses.get(job) ?? 0)) {
      this.lastSuccesses.set(job, seconds);
      this.lastSuccess.set({ job }, seconds);
    }
  }

  private async execute(job: ScheduledJob, trigger: JobTrigger, startedAt: Date): Promise<JobRunResult> {
    const { definition } = job;
    const name = definition.name;
    const lease = await this.leases().tryAcquire(leaseName(name), definition.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS, { reclaimOwn: true });
    if (!lease) {
      const holder = await this.leases().holder(leaseName(name));
      const reason = holder ? `lease held by ${holder.owner} until ${holder.expiresAt.toISOString()}` : 'lease held by another instance';
      this.logger.log({ job: name, trigger }, `${name}: skipped, ${reason}`);
      return this.skipped(name, trigger, reason);
    }
    try {
      return await this.runHoldingLease(definition, lease, trigger, startedAt);
    } finally {
      await this.letGo(job, lease, trigger).catch((error: unknown) =>
        this.logger.warn({ err: error, job: name }, `${name}: could not release the lease (it expires by itself)`),
      );
    }
  }

  private async runHoldingLease(definition: JobDefinition, lease: Lease, trigger: JobTrigger, startedAt: Date): Promise<JobRunResult> {
    const name = definition.name;
    const record = await this.runs.start({ job: name, instance: this.instance, trigger, startedAt });
    const runId = record._id.toHexString();
    const interrupted = await this.runs.markInterrupted(name, record._id, startedAt);
    if (interrupted > 0)
      this.logger.warn({ job: name }, `${name}: ${interrupted} earlier run(s) left running by a stopped instance marked failed`);
    const last = await this.runs.lastSucceeded(name);
    const previous: PreviousRun | null = last
      ? {
          runId: last._id.toHexString(),
          startedAt: last.startedAt,
          finishedAt: last.finishedAt,
          checkpoint: last.checkpoint,
          counts: last.counts ?? {},
        }
      : null;

    let counts: JobCounts = {};
    let checkpoint: Date | null = null;
    const context: JobContext = {
      runId,
      signal: this.shutdown.signal,
      previous,
      progress: async (message, progressCounts) => {
        if (progressCounts) counts = { ...progressCounts };
        this.logger.log({ job: name, runId, counts: progressCounts }, `${name}: ${message}`);
        const renewed = await lease.renew();
        await this.runs.progress(record._id, message, progressCounts);
        if (!renewed) throw new LeaseLostError(name);
      },
      setCheckpoint: (at) => {
        checkpoint = at;
      },
    };

    this.logger.log({ job: name, runId, trigger }, `${name}: started (${trigger})`);
    let outcome: { status: 'succeeded' | 'failed'; error: string | null };
    try {
      counts = { ...(await definition.run(context)) };
      outcome = { status: 'succeeded', error: null };
    } catch (error) {
      const aborted = this.shutdown.signal.aborted;
      outcome = { status: 'failed', error: aborted ? `Aborted: the instance is shutting down (${messageOf(error)})` : messageOf(error) };
      this.logger.error({ err: error, job: name, runId, counts }, `${name}: failed: ${outcome.error}`);
    }
    const finishedAt = new Date();
    const finished = await this.runs.finish(record._id, {
      ...outcome,
      finishedAt,
      counts,
      checkpoint: outcome.status === 'succeeded' ? checkpoint : null,
    });
    if (outcome.status === 'succeeded') {
      this.logger.log({ job: name, runId, counts, ms: finishedAt.getTime() - startedAt.getTime() }, `${name}: succeeded`);
      await this.runs.prune(name, new Date(finishedAt.getTime() - RUN_HISTORY_MS), record._id);
    }
    return finished ? toResult(finished) : this.result(name, trigger, startedAt, { ...outcome, counts, id: runId });
  }

  /**
   * Releases the lease, except after a scheduled run: then it is kept until halfway to the next
   * tick, so an instance whose timer fires a little later for the same tick skips it.
   */
  private async letGo(job: ScheduledJob, lease: Lease, trigger: JobTrigger): Promise<void> {
    if (trigger === 'schedule' && job.cron) {
      const [next, afterNext] = job.cron.nextDates(2).map((date) => date.toMillis());
      const holdUntil = next! - (afterNext! - next!) / 2;
      if (holdUntil > Date.now()) return lease.holdUntil(new Date(holdUntil));
    }
    await lease.release();
  }

  private skipped(job: string, trigger: JobTrigger, reason: string): JobRunResult {
    return { ...this.result(job, trigger, new Date(), { status: 'skipped', error: null }), reason };
  }

  private result(
    job: string,
    trigger: JobTrigger,
    startedAt: Date,
    outcome: Pick<JobRunResult, 'status' | 'error'> & Partial<Pick<JobRunResult, 'counts' | 'id'>>,
  ): JobRunResult {
    return {
      job,
      instance: this.instance,
      trigger,
      startedAt,
      finishedAt: outcome.status === 'skipped' ? null : new Date(),
      counts: {},
      checkpoint: null,
      ...outcome,
    };
  }

  private leases(): Leases {
    // The connection's Db handle exists once Mongoose has connected (the app may boot before the store is reachable).
    const db = this.connection.db;
    if (!db) throw new Error('not connected to MongoDB');
    return new Leases(db, this.instance);
  }
}

function cronName(job: ScheduledJob): string {
  return `job:${job.definition.name}`;
}

function leaseName(job: string): string {
  return `job:${job}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function toResult(record: JobRunRecord): JobRunResult {
  return {
    id: record._id.toHexString(),
    job: record.job,
    instance: record.instance,
    trigger: record.trigger,
    status: record.status,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt ?? null,
    counts: record.counts ?? {},
    checkpoint: record.checkpoint ?? null,
    error: record.error ?? null,
  };
}
