import { Module } from '@nestjs/common';
import { AuditModule } from './audit/audit.module.js';
import { DataExportModule } from './data-export/data-export.module.js';
import { ErasureModule } from './erasure/erasure.module.js';
import { LegalHoldsModule } from './holds/legal-holds.module.js';
import { RetentionModule } from './retention/retention.module.js';

/**
 * Compliance: what the service holds of a person, and how it is exported, erased, pseudonymised
 * and kept no longer than allowed. It reaches every module's data only through the providers
 * registered with the UserDataRegistry (src/common/user-data), and records what it does in the
 * audit log.
 */
@Module({
  imports: [AuditModule, LegalHoldsModule, RetentionModule, DataExportModule, ErasureModule],
})
export class ComplianceModule {}
