import { Injectable } from '@nestjs/common';
import { AuditLog } from '../../audit/audit-log.service.js';
import type { DataExportRecord } from '../data-exports.repository.js';
import { ARCHIVE_OWNER, type ArchiveRef } from './archive-store.js';

/**
 * Names the owner of a subject's archives (their directory with the local driver, `metadata.owner`
 * with GridFS) by the audit log's keyed hash of the subject's id: a list of employee ids does not
 * tell whose archives are whose, and erasure still finds them all by the id.
 */
@Injectable()
export class ArchiveOwners {
  constructor(private readonly audit: AuditLog) {}

  async of(subjectUserId: string): Promise<string> {
    return `u_${(await this.audit.userIdHash(subjectUserId)).slice(0, 32)}`;
  }

  /** Where a job's archive is: the owner recorded in its key when it was written, else the subject's owner now. */
  async refOf(job: Pick<DataExportRecord, '_id' | 'subjectUserId' | 'archive'>): Promise<ArchiveRef> {
    const recorded = job.archive?.key.split('/')[0];
    const owner = recorded !== undefined && ARCHIVE_OWNER.test(recorded) ? recorded : await this.of(job.subjectUserId);
    return { exportId: job._id.toHexString(), owner };
  }
}
