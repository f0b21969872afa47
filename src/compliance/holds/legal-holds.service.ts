import { Injectable, OnModuleInit } from '@nestjs/common';
import { Types } from 'mongoose';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import { ConflictStateException, ResourceNotFoundException, ValidationFailedException } from '../../common/errors/app-exceptions.js';
import { ErrorCode } from '../../common/errors/error-codes.js';
import { OBJECT_ID_PATTERN } from '../../common/mongo/object-id.js';
import { Page, decodeCursor, toPage } from '../../common/pagination/cursor.js';
import { rewriteInBatches } from '../../common/user-data/batches.js';
import type { DeletionGuard, DeletionTarget } from '../../common/user-data/deletion-guard.js';
import { UserDataRegistry } from '../../common/user-data/user-data.registry.js';
import { ConversationsService } from '../../conversations/conversations.service.js';
import { AuditLog } from '../audit/audit-log.service.js';
import { LegalHoldDto, ListLegalHoldsQuery, PlaceLegalHoldDto, ReleaseLegalHoldDto, ReleasedLegalHoldDto } from './dto/legal-hold.dto.js';
import { ConversationHoldNames, LegalHoldRecord, LegalHoldsRepository } from './legal-holds.repository.js';
import type { HoldActor } from './schemas/legal-hold.schema.js';

const LIST_SCOPE = 'legal-holds';
const DEFAULT_PAGE_SIZE = 20;
/** Released conversation holds read and renamed per round trip when their owner is forgotten. */
const RENAME_BATCH = 100;

/**
 * Legal holds: while a hold on a user or a conversation is active, nothing of it is purged,
 * erased or anonymised, and its owner cannot delete it (or a message or file in it) for good
 * either: this service is the deletion guard those deletes ask. A hold on a conversation also
 * covers its owner for erasure and anonymisation (erasing them would take the conversation with it).
 */
@Injectable()
export class LegalHoldsService implements DeletionGuard, OnModuleInit {
  readonly name = 'legal-holds';

  constructor(
    private readonly holds: LegalHoldsRepository,
    private readonly conversations: ConversationsService,
    private readonly audit: AuditLog,
    private readonly registry: UserDataRegistry,
  ) {}

  onModuleInit(): void {
    this.registry.registerDeletionGuard(this);
  }

  /** The deletion guard: 409 LEGAL_HOLD while a hold covers the conversation or its owner. */
  assertMayDelete(target: DeletionTarget): Promise<void> {
    return this.assertConversationNotHeld(target.conversationId, target.ownerId);
  }

  /** Throws 409 LEGAL_HOLD when an active hold covers the user, or a conversation of theirs. */
  async assertUserNotHeld(userId: string): Promise<void> {
    const holds = await this.holds.activeCoveringUser(userId);
    if (holds.length === 0) return;
    const onUser = holds.some((hold) => hold.target === 'user');
    throw new ConflictStateException(
      ErrorCode.LEGAL_HOLD,
      onUser ? 'A legal hold is in force on this user' : 'A legal hold is in force on a conversation of this user',
      { holdId: holds[0]!._id.toHexString(), holdIds: holds.map((hold) => hold._id.toHexString()) },
    );
  }

  /** Throws 409 LEGAL_HOLD when an active hold covers the conversation, or its owner. */
  async assertConversationNotHeld(conversationId: string | Types.ObjectId, ownerId?: string): Promise<void> {
    const id = typeof conversationId === 'string' ? conversationId : conversationId.toHexString();
    const holds = [
      ...(await this.holds.activeOn('conversation', [id])),
      ...(ownerId === undefined ? [] : await this.holds.activeOn('user', [ownerId])),
    ];
    if (holds.length === 0) return;
    const onConversation = holds.some((hold) => hold.targetId === id);
    throw new ConflictStateException(
      ErrorCode.LEGAL_HOLD,
      onConversation ? 'A legal hold is in force on this conversation' : 'A legal hold is in force on the owner of this conversation',
      { holdId: holds[0]!._id.toHexString(), holdIds: holds.map((hold) => hold._id.toHexString()) },
    );
  }

  /** Those of these users on whom a hold is in force. */
  async heldUserIds(userIds: readonly string[]): Promise<Set<string>> {
    return new Set((await this.holds.activeOn('user', userIds)).map((hold) => hold.targetId));
  }

  /** Those of these conversations on which a hold is in force (as 24-hex ids). */
  async heldConversationIds(conversationIds: readonly (string | Types.ObjectId)[]): Promise<Set<string>> {
    const ids = conversationIds.map((id) => (typeof id === 'string' ? id : id.toHexString()));
    return new Set((await this.holds.activeOn('conversation', ids)).map((hold) => hold.targetId));
  }

  async place(admin: AuthenticatedUser, dto: PlaceLegalHoldDto): Promise<LegalHoldDto> {
    if (dto.target === 'conversation' && !OBJECT_ID_PATTERN.test(dto.targetId)) {
      throw ValidationFailedException.forField('targetId', 'targetId of a conversation must be its 24-hex id');
    }
    const targetId = dto.target === 'conversation' ? dto.targetId.toLowerCase() : dto.targetId;
    const conversationOwnerId = dto.target === 'conversation' ? await this.conversations.ownerOf(new Types.ObjectId(targetId)) : null;
    const record = await this.holds.insert({
      target: dto.target,
      targetId,
      conversationOwnerId,
      reason: dto.reason.trim(),
      placedBy: actorOf(admin),
      placedAt: new Date(),
    });
    await this.audit.record({
      action: 'legal-hold.placed',
      actor: actorOf(admin),
      subjectUserId: dto.target === 'user' ? targetId : conversationOwnerId,
      target: { type: 'legal-hold', id: record._id.toHexString() },
      // No conversation id: the hashed details can never be rewritten, and once the owner is
      // anonymised it would lead from the entry to the pseudonym. The hold (target.id) says which.
      details: { target: record.target, reason: record.reason },
    });
    return toLegalHoldDto(record);
  }

  async list(query: ListLegalHoldsQuery): Promise<Page<LegalHoldDto>> {
    const limit = query.limit ?? DEFAULT_PAGE_SIZE;
    const active = query.active === undefined ? undefined : query.active === 'true';
    const scope = `${LIST_SCOPE}:${query.active ?? '*'}:${query.target ?? '*'}:${query.targetId ?? '*'}`;
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, scope, 'cursor');
    const rows = await this.holds.list({ active, target: query.target, targetId: query.targetId, limit, after });
    return toPage(rows, limit, scope, (row) => row.placedAt, toLegalHoldDto);
  }

  async get(holdId: string): Promise<LegalHoldDto> {
    return toLegalHoldDto(await this.require(new Types.ObjectId(holdId)));
  }

  /** Releases the hold; one released before is answered as it is, with `alreadyReleased`. */
  async release(admin: AuthenticatedUser, holdId: string, dto: ReleaseLegalHoldDto): Promise<ReleasedLegalHoldDto> {
    const id = new Types.ObjectId(holdId);
    const released = await this.holds.release(id, { releasedAt: new Date(), releasedBy: actorOf(admin), releaseReason: dto.reason.trim() });
    if (!released) return { ...toLegalHoldDto(await this.require(id)), alreadyReleased: true };
    await this.audit.record({
      action: 'legal-hold.released',
      actor: actorOf(admin),
      subjectUserId: released.target === 'user' ? released.targetId : released.conversationOwnerId,
      target: { type: 'legal-hold', id: holdId },
      details: { target: released.target, reason: released.releaseReason },
    });
    return { ...toLegalHoldDto(released), alreadyReleased: false };
  }

  /**
   * The user leaves (erased or anonymised): every hold that names them gets the audit log's keyed
   * hash of their id instead (so it still matches the audit entries about them, which carry the
   * same hash), never their pseudonym: the audit entries point at the holds, and a pseudonym there
   * would lead from the person to their anonymised data. Released holds on their conversations
   * lose the conversation id too (see forgetConversationOwner). Active holds on them are left
   * alone (the caller refuses first). Answers the holds changed.
   */
  async forgetUser(userId: string): Promise<number> {
    const changed = await this.holds.countMentioning(userId);
    await this.renameConversationHolds(() => this.holds.releasedOnConversations({ ownerId: userId }, RENAME_BATCH));
    await this.holds.replaceUserId(userId, await this.audit.userIdHash(userId));
    return changed;
  }

  /**
   * These conversations of `ownerId` were given to a pseudonym (retention's anonymise pass):
   * released holds on them name neither the owner nor the conversation in plain any more (the
   * audit log's keyed hashes instead). Otherwise the audit entries about the owner lead to the
   * hold, the hold to the conversation, and the conversation to the pseudonym. Active holds are
   * never touched (a held conversation is not anonymised). Answers the holds changed.
   */
  forgetConversationOwner(conversationIds: Types.ObjectId[], ownerId: string): Promise<number> {
    const ids = conversationIds.map((id) => id.toHexString());
    return this.renameConversationHolds(() => this.holds.releasedOnConversations({ ownerId, conversationIds: ids }, RENAME_BATCH));
  }

  private renameConversationHolds(next: () => Promise<ConversationHoldNames[]>): Promise<number> {
    return rewriteInBatches(next, async (batch) =>
      this.holds.renameConversationHolds(
        await Promise.all(
          batch.map(async (hold) => ({
            _id: hold._id,
            targetId: await this.audit.userIdHash(hold.targetId),
            conversationOwnerId: hold.conversationOwnerId ? await this.audit.userIdHash(hold.conversationOwnerId) : null,
          })),
        ),
      ),
    );
  }

  private async require(id: Types.ObjectId): Promise<LegalHoldRecord> {
    const record = await this.holds.findById(id);
    if (!record) throw new ResourceNotFoundException(ErrorCode.LEGAL_HOLD_NOT_FOUND, 'Legal hold not found');
    return record;
  }
}

function actorOf(user: AuthenticatedUser): HoldActor {
  return { userId: user.id, roles: [...user.roles] };
}

export function toLegalHoldDto(record: LegalHoldRecord): LegalHoldDto {
  return {
    id: record._id.toHexString(),
    target: record.target,
    targetId: record.targetId,
    targetFound: record.target === 'conversation' ? (record.conversationOwnerId ?? null) !== null : null,
    conversationOwnerId: record.conversationOwnerId ?? null,
    reason: record.reason,
    active: !record.releasedAt,
    placedBy: { userId: record.placedBy.userId, roles: record.placedBy.roles ?? [] },
    placedAt: record.placedAt.toISOString(),
    releasedAt: record.releasedAt ? record.releasedAt.toISOString() : null,
    releasedBy: record.releasedBy ? { userId: record.releasedBy.userId, roles: record.releasedBy.roles ?? [] } : null,
    releaseReason: record.releaseReason ?? null,
  };
}
