import { DynamicModule, Global, Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ScheduleModule } from '@nestjs/schedule';
import { JobRunsRepository } from './job-runs.repository.js';
import { JOB_SCHEDULING, JobScheduler, type JobScheduling } from './job-scheduler.service.js';
import { JobRun, JobRunSchema } from './schemas/job-run.schema.js';

/**
 * The scheduler every background job goes through (see JobScheduler). Imported once, by
 * AppModule; global, so a feature module injects JobScheduler and registers its jobs without
 * importing this module.
 */
@Global()
@Module({})
export class JobsModule {
  /** `schedule: false` (command-line tools) registers jobs but never fires them by themselves: only `runNow` runs them. */
  static forRoot(scheduling: JobScheduling): DynamicModule {
    return {
      module: JobsModule,
      imports: [ScheduleModule.forRoot(), MongooseModule.forFeature([{ name: JobRun.name, schema: JobRunSchema }])],
      providers: [{ provide: JOB_SCHEDULING, useValue: scheduling }, JobRunsRepository, JobScheduler],
      exports: [JobScheduler],
    };
  }
}
