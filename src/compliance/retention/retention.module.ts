import { Module } from '@nestjs/common';

/** Retention policies, the dry run and the scheduled purge. */
@Module({})
export class RetentionModule {}
