import { Module } from '@nestjs/common';
import { MongooseModule } from '@nestjs/mongoose';
import { AuditController } from './audit.controller.js';
import { AuditEventsListener } from './audit-events.listener.js';
import { AuditLog } from './audit-log.service.js';
import { AuditLogRepository } from './audit-log.repository.js';
import { AuditQueries } from './audit-queries.service.js';
import { AuditRetentionJob } from './audit-retention.job.js';
import { AuditUserDataProvider } from './audit-user-data.provider.js';
import { AuditEntry, AuditEntrySchema } from './schemas/audit-entry.schema.js';

/**
 * The tamper-evident audit log (chat_audit_log): AuditLog.record for every part that must leave
 * a trace, the admins' listing, its own retention job, the entries it writes from domain events
 * (agent changes, bursts of failed authentication), and its user-data provider.
 */
@Module({
  imports: [MongooseModule.forFeature([{ name: AuditEntry.name, schema: AuditEntrySchema }])],
  controllers: [AuditController],
  providers: [AuditLogRepository, AuditLog, AuditQueries, AuditRetentionJob, AuditEventsListener, AuditUserDataProvider],
  exports: [AuditLog],
})
export class AuditModule {}
