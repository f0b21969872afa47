import { Module } from '@nestjs/common';

/** The tamper-evident audit log (chat_audit_log). */
@Module({})
export class AuditModule {}
