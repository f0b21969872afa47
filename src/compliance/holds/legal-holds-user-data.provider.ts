import { Injectable, OnModuleInit } from '@nestjs/common';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import type { DataCounts, ExportPart, Pseudonymisation, UserDataHolding, UserDataProvider } from '../../common/user-data/user-data.js';
import { LegalHoldRecord, LegalHoldsRepository } from './legal-holds.repository.js';
import { LegalHoldsService } from './legal-holds.service.js';
import { LEGAL_HOLDS_COLLECTION } from './schemas/legal-hold.schema.js';

const ABOUT_CSV_COLUMNS = ['id', 'target', 'conversationId', 'reason', 'placedAt', 'placedByRoles', 'releasedAt', 'releaseReason'] as const;
const ACTED_CSV_COLUMNS = ['id', 'target', 'placed', 'released', 'placedAt', 'releasedAt'] as const;

/**
 * Legal holds (chat_legal_holds) as user data: holds on a person or on their conversations are
 * about them, and the admins who placed or released holds are named in them.
 *
 * A hold outlives the erasure of the people it names (it is the record that the hold existed):
 * erasing and pseudonymising alike replace their id by the audit log's keyed hash of it, so the
 * hold still matches the audit entries about the same person. Never the pseudonym: the audit
 * entries point at the holds, so a pseudonym there would undo the anonymisation (see
 * LegalHoldsService.forgetUser). A person with a hold in force is never erased or anonymised (the
 * erasure checks first, and so does this provider).
 */
@Injectable()
export class LegalHoldsUserDataProvider implements UserDataProvider, OnModuleInit {
  readonly name = 'legal-holds';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: LEGAL_HOLDS_COLLECTION,
      userFields: ['targetId', 'conversationOwnerId', 'placedBy.userId', 'releasedBy.userId'],
      description:
        'Legal holds: on a person (targetId is their user id when target is `user`) or on a conversation (conversationOwnerId), ' +
        'with the reason, and the admins who placed and released them.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly holds: LegalHoldsRepository,
    private readonly service: LegalHoldsService,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
  }

  async inventory(userId: string): Promise<DataCounts> {
    return { [LEGAL_HOLDS_COLLECTION]: await this.holds.countMentioning(userId) };
  }

  /**
   * The holds about the user, and (for admins) the holds they placed or released. The admins
   * who acted on a hold about the user are other people: only their roles are given. Of holds the
   * user acted on, neither the person held nor the reason is given, for the same reason; that
   * part is there only for those who acted on a hold.
   */
  async *export(userId: string): AsyncGenerator<ExportPart> {
    yield {
      kind: 'records',
      name: 'legal-holds',
      description:
        'Legal holds on you or on your conversations: while one is in force nothing of what it covers is deleted. ' +
        'The admins who placed or released them appear by role only.',
      records: this.aboutRecords(userId),
      csvColumns: ABOUT_CSV_COLUMNS,
    };
    // Only admins act on holds: everyone else's archive does without an always-empty part.
    if ((await this.holds.countActedOnBy(userId)) === 0) return;
    yield {
      kind: 'records',
      name: 'legal-holds-acted-on',
      description: 'Legal holds you placed or released as an admin (whom they hold is left out: that is another person’s data).',
      records: this.actedRecords(userId),
      csvColumns: ACTED_CSV_COLUMNS,
    };
  }

  async erase(userId: string): Promise<DataCounts> {
    await this.service.assertUserNotHeld(userId);
    return { [LEGAL_HOLDS_COLLECTION]: await this.service.forgetUser(userId) };
  }

  pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    return this.erase(request.userId);
  }

  private async *aboutRecords(userId: string): AsyncGenerator<Record<string, unknown>> {
    for await (const hold of this.holds.streamAboutUser(userId)) {
      yield {
        id: hold._id.toHexString(),
        target: hold.target,
        conversationId: hold.target === 'conversation' ? hold.targetId : null,
        reason: hold.reason,
        placedAt: hold.placedAt.toISOString(),
        placedByRoles: (hold.placedBy.roles ?? []).join(' '),
        releasedAt: iso(hold.releasedAt),
        releaseReason: hold.releaseReason ?? null,
      };
    }
  }

  private async *actedRecords(userId: string): AsyncGenerator<Record<string, unknown>> {
    for await (const hold of this.holds.streamActedOnBy(userId)) yield toActedRecord(hold, userId);
  }
}

function toActedRecord(hold: LegalHoldRecord, userId: string): Record<string, unknown> {
  return {
    id: hold._id.toHexString(),
    target: hold.target,
    placed: hold.placedBy.userId === userId,
    released: hold.releasedBy?.userId === userId,
    placedAt: hold.placedAt.toISOString(),
    releasedAt: iso(hold.releasedAt),
  };
}

function iso(date: Date | null | undefined): string | null {
  return date ? date.toISOString() : null;
}
