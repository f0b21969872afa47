import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { DataCounts, ExportPart, Pseudonymisation, UserDataHolding, UserDataProvider } from '../../common/user-data/user-data.js';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import { DataExportRecord, DataExportsRepository } from './data-exports.repository.js';
import { DATA_EXPORTS_COLLECTION } from './schemas/data-export.schema.js';
import { ArchiveOwners } from './storage/archive-owners.js';
import { ARCHIVE_STORE, type ArchiveStore } from './storage/archive-store.js';

const ARCHIVE_FILES = 'files:data-exports';
const SPOOL_FILES = 'files:data-exports-spool';

/**
 * The data-export module's own share of a user's data: the export jobs about the user or
 * requested by them, and the archives. An archive is nothing but personal data, so erasure and
 * pseudonymisation both delete the jobs and their archives (an admin's request about someone
 * else goes too when the admin is erased).
 */
@Injectable()
export class DataExportUserData implements UserDataProvider, OnModuleInit {
  readonly name = 'data-exports';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: DATA_EXPORTS_COLLECTION,
      userFields: ['subjectUserId', 'requestedBy.userId'],
      description:
        'Requests to export a user’s data: whose data, who asked, when, the state of the job and the archive’s size and checksum.',
    },
    {
      store: ARCHIVE_FILES,
      userFields: [],
      description:
        'The export archives themselves (zip files like this one), kept until they expire (CHAT_DATA_EXPORT_TTL_HOURS); ' +
        'stored under a keyed hash of the user id, beside the attachment files.',
    },
    {
      store: SPOOL_FILES,
      userFields: [],
      description:
        'While an archive is being written: the CSV renderings of its records (texts of messages included), in a directory of ' +
        'its own under $DATA_DIR/data-exports/.spool, deleted as soon as the archive is done or has failed; left behind only by ' +
        'a process that died part-way, and then removed by the data-exports job within about an hour.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly jobs: DataExportsRepository,
    private readonly owners: ArchiveOwners,
    @Inject(ARCHIVE_STORE) private readonly store: ArchiveStore,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
  }

  async inventory(userId: string): Promise<DataCounts> {
    return {
      [DATA_EXPORTS_COLLECTION]: await this.jobs.countForUser(userId),
      [ARCHIVE_FILES]: await this.store.countOf(await this.owners.of(userId)),
    };
  }

  /** The job records, not the archives (an archive only repeats the rest of the export). */
  // eslint-disable-next-line @typescript-eslint/require-await -- one part, known without a look-up; its records are read lazily
  async *export(userId: string): AsyncGenerator<ExportPart> {
    yield {
      kind: 'records',
      name: 'data-exports',
      description: 'Exports of your data: requested by whom and when, their state, and each archive’s size and SHA-256.',
      records: this.records(userId),
      csvColumns: [
        'id',
        'subjectUserId',
        'requestedBy.userId',
        'requestedBy.roles',
        'status',
        'attempts',
        'error',
        'archive.size',
        'archive.sha256',
        'createdAt',
        'startedAt',
        'finishedAt',
        'expiresAt',
      ],
    };
  }

  /** Each job's archive first, then the job: a crash in between leaves the job, found again by the next erasure. */
  async erase(userId: string): Promise<DataCounts> {
    let jobs = 0;
    let files = 0;
    for await (const job of this.jobs.cursorForUser(userId)) {
      await this.store.remove(await this.owners.refOf(job));
      if (job.archive) files += 1;
      jobs += await this.jobs.deleteOne(job._id);
    }
    // Archives whose job is already gone (an erasure or expiry interrupted part-way).
    files += await this.store.removeAllOf(await this.owners.of(userId));
    return { [DATA_EXPORTS_COLLECTION]: jobs, [ARCHIVE_FILES]: files };
  }

  /** Nothing in an export job or archive would stay useful under a pseudonym: the same as erasure. */
  pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    return this.erase(request.userId);
  }

  private async *records(userId: string): AsyncGenerator<Record<string, unknown>> {
    for await (const job of this.jobs.cursorForUser(userId)) yield exportRecord(job);
  }
}

function exportRecord(job: DataExportRecord): Record<string, unknown> {
  return {
    id: job._id.toHexString(),
    subjectUserId: job.subjectUserId,
    requestedBy: { userId: job.requestedBy.userId, roles: job.requestedBy.roles },
    status: job.status,
    attempts: job.attempts,
    error: job.error ?? null,
    archive: job.archive ? { size: job.archive.size, sha256: job.archive.sha256 } : null,
    createdAt: job.createdAt,
    startedAt: job.startedAt ?? null,
    finishedAt: job.finishedAt ?? null,
    expiresAt: job.expiresAt ?? null,
  };
}
