import { Injectable, OnModuleInit } from '@nestjs/common';
import type { DataCounts, ExportPart, Pseudonymisation, UserDataHolding, UserDataProvider } from '../../common/user-data/user-data.js';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import { ErasureRecord, ErasuresRepository } from './erasures.repository.js';
import { ERASURES_COLLECTION } from './schemas/erasure.schema.js';

/**
 * The erasure records' own share of a user's data. A record names its subject only while the
 * erasure is in progress (that erasure is the one running, and it clears the name itself when
 * done), and after a failed one; it names the admin who asked. Erasing a user clears their plain
 * id from the finished records (the keyed hash and the roles stay: the receipt of what was done
 * must outlive the person it concerned); pseudonymising does the same (never the pseudonym, which
 * the audit entries pointing at the record would link back to the person).
 */
@Injectable()
export class ErasuresUserDataProvider implements UserDataProvider, OnModuleInit {
  readonly name = 'erasures';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: ERASURES_COLLECTION,
      userFields: ['subjectUserId', 'requestedBy.userId'],
      description:
        'Erasure and anonymisation receipts: whose data (by a keyed hash of the id once done), who asked, why, and what was ' +
        'removed where. The subject’s plain id is kept only while the operation is in progress (and after a failed one).',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly records: ErasuresRepository,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
  }

  async inventory(userId: string): Promise<DataCounts> {
    return { [ERASURES_COLLECTION]: await this.records.countNaming(userId) };
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- one part, known without a look-up; its records are read lazily
  async *export(userId: string): AsyncGenerator<ExportPart> {
    const records = this.records;
    yield {
      kind: 'records',
      name: 'erasures',
      description:
        'Erasures and anonymisations that named you: failed ones about you, and those you asked for as an administrator. Of the ' +
        'latter, only what you asked for and when is given: their reason and counts are about the person erased.',
      csvColumns: ['id', 'mode', 'state', 'yourPart', 'reason', 'startedAt', 'finishedAt'],
      records: (async function* () {
        for await (const record of records.cursorNaming(userId)) yield toExportRecord(record, userId);
      })(),
    };
  }

  async erase(userId: string): Promise<DataCounts> {
    return { [ERASURES_COLLECTION]: await this.records.forgetUser(userId) };
  }

  pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    return this.erase(request.userId);
  }
}

/** A record as the person it names sees it: one the user asked for about someone else leaves out that person's reason and counts (Art. 15(4)). */
function toExportRecord(record: ErasureRecord, userId: string): Record<string, unknown> {
  const asSubject = record.subjectUserId === userId;
  return {
    id: record._id.toHexString(),
    mode: record.mode,
    state: record.state,
    yourPart: asSubject ? 'subject' : 'requester',
    ...(asSubject
      ? { reason: record.reason, counts: record.counts.map(({ provider, store, count }) => ({ provider, store, count })) }
      : {}),
    startedAt: record.startedAt.toISOString(),
    finishedAt: record.finishedAt?.toISOString() ?? null,
  };
}
