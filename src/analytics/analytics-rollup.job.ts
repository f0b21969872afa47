import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../common/config/app-config.js';
import type { JobContext, JobCounts, JobRunResult } from '../jobs/job.js';
import { JobScheduler } from '../jobs/job-scheduler.service.js';
import { MessagesService } from '../messages/messages.service.js';
import { AnalyticsRollupService, RollupCounts } from './analytics-rollup.service.js';
import { AnalyticsCalendar, CalendarPeriod } from './rollup/calendar.js';

export const ANALYTICS_ROLLUP_JOB = 'analytics-rollup';
/** A day of a large deployment takes a while; progress after each day renews the lease. */
const LEASE_TTL_MS = 10 * 60_000;

/** A backfill's days and who follows its progress (the command line). */
export interface Backfill {
  from: CalendarPeriod;
  to: CalendarPeriod;
  onProgress?: (message: string, counts: RollupCounts) => void;
}

/**
 * The rollup job (`analytics-rollup`, on CHAT_ANALYTICS_CRON, once across instances by its
 * lease, each run recorded in chat_job_runs). A run recomputes every day from the first one not
 * yet final (its checkpoint; before the first run, the day of the oldest message) through today,
 * then the weeks and months those days fall in: today's figures are brought up to date, closed
 * days become final, and a run that stopped half-way is simply done again. `backfill` recomputes
 * chosen days (final or not) under the same lease: `npm run analytics:rollup -- --from --to`.
 */
@Injectable()
export class AnalyticsRollupJob implements OnModuleInit {
  private readonly logger = new Logger('Analytics');
  private readonly cron: string;
  private readonly enabled: boolean;
  private pendingBackfill: Backfill | null = null;
  private backfills: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly scheduler: JobScheduler,
    private readonly rollups: AnalyticsRollupService,
    private readonly calendar: AnalyticsCalendar,
    private readonly messages: MessagesService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.cron = config.get('analytics', { infer: true }).cron;
    this.enabled = config.get('chat', { infer: true }).enableAnalytics;
  }

  onModuleInit(): void {
    // CHAT_ENABLE_ANALYTICS=false: no rollups at all (the routes answer 404 ANALYTICS_DISABLED).
    if (!this.enabled) return;
    this.scheduler.register({ name: ANALYTICS_ROLLUP_JOB, cron: this.cron, leaseTtlMs: LEASE_TTL_MS, run: (context) => this.run(context) });
  }

  /** Runs now (tests, the admin trigger) and answers the run record. */
  runNow(): Promise<JobRunResult> {
    return this.scheduler.runNow(ANALYTICS_ROLLUP_JOB);
  }

  /** Recomputes the days from `from` through `to` and their weeks and months, under the job's lease. */
  backfill(request: Backfill): Promise<JobRunResult> {
    const run = this.backfills.then(async () => {
      this.pendingBackfill = request;
      try {
        return await this.scheduler.runNow(ANALYTICS_ROLLUP_JOB);
      } finally {
        this.pendingBackfill = null;
      }
    });
    this.backfills = run.catch(() => undefined);
    return run;
  }

  private async run(context: JobContext): Promise<JobCounts> {
    const now = new Date();
    const backfill = this.pendingBackfill;
    const today = this.calendar.periodOf('daily', now);
    const first = backfill ? backfill.from : await this.firstOpenDay(context, today);
    const last = backfill ? backfill.to : today;
    const days = [...this.calendar.periodsBetween('daily', first.start, last.start)];
    this.logger.log(`rolling up ${days.length} day(s), ${first.key} to ${last.key}${backfill ? ' (backfill)' : ''}`);
    const counts = await this.rollups.rollUp(days, now, async (message, soFar) => {
      context.signal.throwIfAborted();
      backfill?.onProgress?.(message, soFar);
      await context.progress(message, { ...soFar });
    });
    if (!backfill) {
      // The next run starts from the first day that can still change.
      const open = days.find((day) => !this.rollups.isFinal(day, now)) ?? today;
      context.setCheckpoint(open.start);
    } else if (context.previous?.checkpoint) {
      context.setCheckpoint(context.previous.checkpoint);
    }
    return { ...counts };
  }

  /** Where a scheduled run starts: the previous run's first open day, else the oldest message's day, else today. */
  private async firstOpenDay(context: JobContext, today: CalendarPeriod): Promise<CalendarPeriod> {
    const checkpoint = context.previous?.checkpoint;
    if (checkpoint) return this.calendar.periodOf('daily', checkpoint);
    const oldest = await this.messages.oldestMessageAt();
    return oldest && oldest < today.start ? this.calendar.periodOf('daily', oldest) : today;
  }
}
