import { Injectable, OnModuleInit } from '@nestjs/common';
import { rewriteInBatches } from '../../common/user-data/batches.js';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import type { DataCounts, ExportPart, UserDataHolding, UserDataProvider } from '../../common/user-data/user-data.js';
import { AuditLog } from './audit-log.service.js';
import { AuditEntryRecord, AuditLogRepository, AuditParty } from './audit-log.repository.js';
import { AUDIT_LOG_COLLECTION } from './schemas/audit-entry.schema.js';

/** Entries rewritten per round trip when removing a user's plain id. */
const REWRITE_BATCH = 500;
const PARTIES: readonly AuditParty[] = ['subject', 'actor'];

const CSV_COLUMNS = ['seq', 'at', 'action', 'yourPart', 'actedBy', 'actorRoles', 'target.type', 'target.id'] as const;

/**
 * The audit log's part of a user's data: the entries about their data (as subject) and of what
 * they did (as actor). Export gives those entries; erasure and pseudonymisation remove the plain
 * user id from them and keep the keyed hash, so the record of what happened stays (the audit log
 * is kept to account for the processing) and the chain still verifies, while the entries no
 * longer name the person.
 */
@Injectable()
export class AuditUserDataProvider implements UserDataProvider, OnModuleInit {
  readonly name = 'audit-log';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: AUDIT_LOG_COLLECTION,
      userFields: ['actor.userId', 'subject.userId'],
      description:
        'Audit entries about the user’s data (who read, exported, erased or anonymised it, retention and legal holds) and of what ' +
        'the user did as an administrator. Erasure removes the plain user id and keeps a keyed hash of it.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly entries: AuditLogRepository,
    private readonly audit: AuditLog,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
  }

  /** Entries that still name the user by their plain id (what erasure changes). */
  async inventory(userId: string): Promise<DataCounts> {
    const hash = await this.audit.userIdHash(userId);
    const [asSubject, asActorOnly] = await Promise.all([
      this.entries.countAbout('subject', hash, { withPlainId: true }),
      this.entries.countAbout('actor', hash, { withPlainId: true, exceptSubject: true }),
    ]);
    return { [AUDIT_LOG_COLLECTION]: asSubject + asActorOnly };
  }

  async *export(userId: string): AsyncGenerator<ExportPart> {
    const hash = await this.audit.userIdHash(userId);
    const entries = this.entries;
    yield {
      kind: 'records',
      name: 'audit-entries',
      description:
        'The audit log’s entries about your data (who read, exported, erased or anonymised it; retention and legal holds) and of what ' +
        'you did as an administrator, oldest first: entries about your data, then those of your actions about others. Other people ' +
        'are named by their role only. Of your actions about others, only what you did and when is given (the action, your part ' +
        'and the kind of thing acted on): their details and the ids acted on are about other people.',
      csvColumns: CSV_COLUMNS,
      records: (async function* () {
        for await (const entry of entries.streamAbout('subject', hash)) yield toExportRecord(entry, hash);
        for await (const entry of entries.streamAbout('actor', hash, { exceptSubject: true })) yield toExportRecord(entry, hash);
      })(),
    };
  }

  erase(userId: string): Promise<DataCounts> {
    return this.removePlainIds(userId);
  }

  /** The keyed hash already stands for the user and cannot be turned back into the id without the key: only the plain id goes. */
  pseudonymise(request: { userId: string }): Promise<DataCounts> {
    return this.removePlainIds(request.userId);
  }

  private async removePlainIds(userId: string): Promise<DataCounts> {
    const hash = await this.audit.userIdHash(userId);
    let removed = 0;
    for (const party of PARTIES) {
      removed += await rewriteInBatches(
        () => this.entries.withPlainUserId(party, hash, REWRITE_BATCH),
        (ids) => this.entries.removePlainUserIds(party, ids),
      );
    }
    return { [AUDIT_LOG_COLLECTION]: removed };
  }
}

/**
 * An entry as its subject or actor sees it: other people are named by their roles, never their
 * ids. An entry where the user only acted (an admin's read, hold, export or erasure of someone
 * else) gives only what they did and when: its details (a hold's reason, another user's
 * conversation, whom a search looked for) and the id acted on belong to other people (Art. 15(4)).
 */
function toExportRecord(entry: AuditEntryRecord, userIdHash: string): Record<string, unknown> {
  const asSubject = entry.subject?.userIdHash === userIdHash;
  const asActor = entry.actor.userIdHash === userIdHash;
  const base = {
    seq: entry.seq,
    at: entry.at.toISOString(),
    action: entry.action,
    yourPart: asSubject && asActor ? 'subject and actor' : asSubject ? 'subject' : 'actor',
  };
  if (!asSubject) return { ...base, target: entry.target ? { type: entry.target.type } : null };
  return {
    ...base,
    actedBy: entry.actor.system ? `the service (${entry.actor.system})` : asActor ? 'you' : 'another user',
    actorRoles: entry.actor.roles ?? [],
    target: entry.target,
    details: entry.details ?? {},
  };
}
