import { Module } from '@nestjs/common';

/** GDPR data export: streamed archive and async export jobs. */
@Module({})
export class DataExportModule {}
