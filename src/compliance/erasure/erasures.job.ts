import { Injectable, OnModuleInit } from '@nestjs/common';
import type { JobContext } from '../../jobs/job.js';
import { JobScheduler } from '../../jobs/job-scheduler.service.js';
import { ErasureService, ResumeCounts } from './erasure.service.js';

export const ERASURES_JOB = 'erasures';
/** Every minute: an erasure whose instance stopped is resumed within about a minute of its claim expiring. */
const CRON = '* * * * *';

/**
 * Resumes erasures and anonymisations left in progress by a stopped instance (their claim
 * expired) and retries those whose last attempt failed, with the providers not yet done.
 */
@Injectable()
export class ErasuresJob implements OnModuleInit {
  constructor(
    private readonly scheduler: JobScheduler,
    private readonly erasures: ErasureService,
  ) {}

  onModuleInit(): void {
    this.scheduler.register({ name: ERASURES_JOB, cron: CRON, runOnBoot: true, run: (context) => this.run(context) });
  }

  run(context: JobContext): Promise<ResumeCounts> {
    return this.erasures.resumeAbandoned(context.signal, (message, counts) => context.progress(message, counts));
  }
}
