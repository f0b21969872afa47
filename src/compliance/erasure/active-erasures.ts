import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log.service.js';
import { ErasuresRepository } from './erasures.repository.js';

/**
 * Whether a user is being (or was) erased or anonymised, for parts that must not add to a
 * person's data meanwhile (a data export would store an archive of whatever was not erased yet)
 * or afterwards (an import of old data).
 */
@Injectable()
export class ActiveErasures {
  constructor(
    private readonly records: ErasuresRepository,
    private readonly audit: AuditLog,
  ) {}

  /**
   * The user's erasure or anonymisation, done or in progress, if any: an import of old data
   * must not bring back what was erased, nor data in the name of someone anonymised.
   */
  async erasedOrInProgress(userId: string): Promise<{ mode: 'erase' | 'anonymise'; state: string; startedAt: Date } | null> {
    return this.records.latestNotFailed(await this.audit.userIdHash(userId));
  }

  /** True while an erasure or anonymisation of the user is pending or running (records name their subject by its keyed hash). */
  async inProgressFor(userId: string): Promise<boolean> {
    return (await this.records.findActive(await this.audit.userIdHash(userId))) !== null;
  }
}
