import { Global, Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { ScheduleModule } from '@nestjs/schedule';
import { JobRunsRepository } from './job-runs.repository.js';
import { JobScheduler } from './job-scheduler.service.js';
import { JobRun, JobRunSchema } from './schemas/job-run.schema.js';

/**
 * The scheduler every background job goes through (see JobScheduler). Imported once, by
 * AppModule; global, so a feature module injects JobScheduler and registers its jobs without
 * importing this module.
 */
@Global()
@Module({
  imports: [ScheduleModule.forRoot(), MongooseModule.forFeature([{ name: JobRun.name, schema: JobRunSchema }])],
  providers: [JobRunsRepository, JobScheduler],
  exports: [JobScheduler],
})
export class JobsModule {}
