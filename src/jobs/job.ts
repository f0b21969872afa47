/** What a job reports: named counts (`{ checked: 120, repaired: 2 }`). */
export type JobCounts = Record<string, number>;

/** How a run started: at boot, by its cron expression, or asked for (`runNow`: tests, admin triggers). */
export type JobTrigger = 'boot' | 'schedule' | 'manual';

/** A run in `chat_job_runs` is `running`, then `succeeded` or `failed`; `skipped` runs are answered and logged, never stored. */
export type JobRunStatus = 'running' | 'succeeded' | 'failed' | 'skipped';

/** A job a feature module registers with `JobScheduler.register` (in its provider's `onModuleInit`). */
export interface JobDefinition {
  /** Unique, lower-case words joined by dashes (`conversation-counts`); the lease is `job:<name>`. */
  name: string;
  /** 5-field cron expression, or 6 with seconds first; from configuration. */
  cron: string;
  /** Also run once shortly after the app has booted (never blocking the boot). */
  runOnBoot?: boolean;
  /** How long the lease lasts without a `progress` call before another instance may take the job over (default 5 minutes). */
  leaseTtlMs?: number;
  run(context: JobContext): Promise<JobCounts>;
}

/** What a run of a job gets. */
export interface JobContext {
  readonly runId: string;
  /** Aborted when the app shuts down; a job checks it between batches (`signal.throwIfAborted()`). */
  readonly signal: AbortSignal;
  /** The job's last successful run, null before the first. */
  readonly previous: PreviousRun | null;
  /**
   * Logs progress, stores it (and the counts so far) on the run record, and renews the lease.
   * Throws when the lease was lost (the run took longer than the lease without progress and
   * another instance took the job over): the run then fails rather than run twice.
   */
  progress(message: string, counts?: JobCounts): Promise<void>;
  /** Where this run got to (e.g. the end of the window it covered); stored when it succeeds, and the next run reads it in `previous`. */
  setCheckpoint(at: Date): void;
}

export interface PreviousRun {
  runId: string;
  startedAt: Date;
  finishedAt: Date | null;
  checkpoint: Date | null;
  counts: JobCounts;
}

/** A run as `runNow` answers it: the stored record, or a skip (lease held elsewhere, run in flight, shutting down). */
export interface JobRunResult {
  /** Absent for skipped runs, which are not stored. */
  id?: string;
  job: string;
  instance: string;
  trigger: JobTrigger;
  status: JobRunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  counts: JobCounts;
  checkpoint: Date | null;
  error: string | null;
  /** Why a run was skipped. */
  reason?: string;
}
