import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log.service.js';
import { ErasuresRepository } from './erasures.repository.js';

/**
 * Whether a user is being erased or anonymised right now, for parts that must not add to a
 * person's data meanwhile (a data export would store an archive of whatever was not erased yet).
 */
@Injectable()
export class ActiveErasures {
  constructor(
    private readonly records: ErasuresRepository,
    private readonly audit: AuditLog,
  ) {}

  /** True while an erasure or anonymisation of the user is pending or running (records name their subject by its keyed hash). */
  async inProgressFor(userId: string): Promise<boolean> {
    return (await this.records.findActive(await this.audit.userIdHash(userId))) !== null;
  }
}
