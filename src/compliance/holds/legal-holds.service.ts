import { Injectable } from '@nestjs/common';
import { Types } from 'mongoose';
import type { AuthenticatedUser } from '../../auth/authenticated-user.js';
import { ConflictStateException, ResourceNotFoundException, ValidationFailedException } from '../../common/errors/app-exceptions.js';
import { ErrorCode } from '../../common/errors/error-codes.js';
import { OBJECT_ID_PATTERN } from '../../common/mongo/object-id.js';
import { Page, decodeCursor, toPage } from '../../common/pagination/cursor.js';
import { ConversationsService } from '../../conversations/conversations.service.js';
import { AuditLog } from '../audit/audit-log.service.js';
import { LegalHoldDto, ListLegalHoldsQuery, PlaceLegalHoldDto, ReleaseLegalHoldDto, ReleasedLegalHoldDto } from './dto/legal-hold.dto.js';
import { LegalHoldRecord, LegalHoldsRepository } from './legal-holds.repository.js';
import type { HoldActor } from './schemas/legal-hold.schema.js';

const LIST_SCOPE = 'legal-holds';
const DEFAULT_PAGE_SIZE = 20;
/** A last-activity bound every conversation meets: the largest date JavaScript can hold. */
const END_OF_TIME = new Date(8.64e15);

/**
 * Legal holds: while a hold on a user or a conversation is active, nothing of it is purged,
 * erased or anonymised. A hold on a conversation also covers its owner for erasure and
 * anonymisation (erasing them would take the conversation with it).
 */
@Injectable()
export class LegalHoldsService {
  constructor(
    private readonly holds: LegalHoldsRepository,
    private readonly conversations: ConversationsService,
    private readonly audit: AuditLog,
  ) {}

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
    throw new ConflictStateException(ErrorCode.LEGAL_HOLD, 'A legal hold is in force on this conversation', {
      holdId: holds[0]!._id.toHexString(),
      holdIds: holds.map((hold) => hold._id.toHexString()),
    });
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
    const conversationOwnerId = dto.target === 'conversation' ? await this.ownerOf(new Types.ObjectId(targetId)) : null;
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
      details: { target: record.target, ...(record.target === 'conversation' ? { conversationId: targetId } : {}), reason: record.reason },
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
      details: {
        target: released.target,
        ...(released.target === 'conversation' ? { conversationId: released.targetId } : {}),
        reason: released.releaseReason,
      },
    });
    return { ...toLegalHoldDto(released), alreadyReleased: false };
  }

  private async require(id: Types.ObjectId): Promise<LegalHoldRecord> {
    const record = await this.holds.findById(id);
    if (!record) throw new ResourceNotFoundException(ErrorCode.LEGAL_HOLD_NOT_FOUND, 'Legal hold not found');
    return record;
  }

  /**
   * The conversation's owner, whoever it is, or null when there is no such conversation.
   * Retention's query reaches every owner's conversations: with a time condition every
   * conversation meets, the first one after the id's predecessor is the conversation itself
   * if it exists.
   */
  private async ownerOf(conversationId: Types.ObjectId): Promise<string | null> {
    const predecessor = BigInt(`0x${conversationId.toHexString()}`) - 1n;
    const [first] = await this.conversations.findForRetention({
      lastActivityBefore: END_OF_TIME,
      ...(predecessor >= 0n ? { afterId: new Types.ObjectId(predecessor.toString(16).padStart(24, '0')) } : {}),
      limit: 1,
    });
    return first?.id.equals(conversationId) ? first.userId : null;
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
