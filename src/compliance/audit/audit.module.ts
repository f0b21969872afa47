import { Module } from '@nestjs/common';
import { AuditLog } from './audit-log.service.js';

/** The tamper-evident audit log (chat_audit_log). */
@Module({ providers: [AuditLog], exports: [AuditLog] })
export class AuditModule {}
