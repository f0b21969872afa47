import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { USER_ID_PATTERN } from '../../../auth/token-verifier.js';
import { IsObjectId } from '../../../common/mongo/object-id.js';
import { IntegerParam } from '../../../common/validation/integer-param.js';
import { LEGAL_HOLD_TARGETS, type LegalHoldTarget } from '../schemas/legal-hold.schema.js';

/** A reason must say something: at least one character that is not white space. */
const SAYS_SOMETHING = /\S/;
export const HOLD_REASON_MAX_LENGTH = 1000;

export class PlaceLegalHoldDto {
  @ApiProperty({ enum: LEGAL_HOLD_TARGETS, description: 'Hold one user (everything of theirs) or one conversation.' })
  @IsIn(LEGAL_HOLD_TARGETS)
  target!: LegalHoldTarget;

  // A conversation id (24 hex digits) has the shape of a user id too: the target decides which it is.
  @ApiProperty({
    example: 'alice',
    description:
      'The user id (the token subject) or, for target `conversation`, the conversation id: 24 hex digits (anything else is a 400). ' +
      'A conversation that does not exist (yet, or any more) can be held all the same: it may come back from a backup; ' +
      'the answer says whether it was found (`targetFound`).',
  })
  @IsString()
  @Matches(USER_ID_PATTERN, { message: 'targetId must be a user id or a 24-hex conversation id' })
  targetId!: string;

  @ApiProperty({ minLength: 1, maxLength: HOLD_REASON_MAX_LENGTH, example: 'Litigation 2025-017: preserve all records of the picker' })
  @IsString()
  @MinLength(1)
  @MaxLength(HOLD_REASON_MAX_LENGTH)
  @Matches(SAYS_SOMETHING, { message: 'reason must not be blank' })
  reason!: string;
}

export class ReleaseLegalHoldDto {
  @ApiProperty({ minLength: 1, maxLength: HOLD_REASON_MAX_LENGTH, example: 'Matter 2025-017 settled' })
  @IsString()
  @MinLength(1)
  @MaxLength(HOLD_REASON_MAX_LENGTH)
  @Matches(SAYS_SOMETHING, { message: 'reason must not be blank' })
  reason!: string;
}

export class LegalHoldParams {
  @ApiProperty({ description: 'Hold id (24 hex characters).', example: '665f1c2e9b1d8a0012345678' })
  @IsObjectId('holdId')
  holdId!: string;
}

export class ListLegalHoldsQuery {
  @ApiPropertyOptional({ enum: ['true', 'false'], description: 'true: only holds in force; false: only released ones (default: both).' })
  @IsOptional()
  @IsIn(['true', 'false'])
  active?: 'true' | 'false';

  @ApiPropertyOptional({ enum: LEGAL_HOLD_TARGETS })
  @IsOptional()
  @IsIn(LEGAL_HOLD_TARGETS)
  target?: LegalHoldTarget;

  @ApiPropertyOptional({ description: 'Only holds on this user or conversation id.' })
  @IsOptional()
  @IsString()
  @Matches(USER_ID_PATTERN, { message: 'targetId must be a user id or a 24-hex conversation id' })
  targetId?: string;

  @ApiPropertyOptional({ minLength: 1, description: 'nextCursor of the previous page (bound to the same filters).' })
  @IsOptional()
  @IsString()
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @IntegerParam(1, 100)
  limit?: number;
}

export class HoldActorDto {
  @ApiProperty({ example: 'compliance-officer' })
  userId!: string;

  @ApiProperty({ type: [String], example: ['admin'] })
  roles!: string[];
}

export class LegalHoldDto {
  @ApiProperty({ example: '665f1c2e9b1d8a0012345678' })
  id!: string;

  @ApiProperty({ enum: LEGAL_HOLD_TARGETS })
  target!: LegalHoldTarget;

  @ApiProperty({
    example: 'alice',
    description:
      'The user id, or the conversation id (24 hex digits). In a released hold whose person was erased or anonymised since, the ' +
      'audit log’s keyed hash of it (for a conversation: once its owner was erased or anonymised, or it passed to a pseudonym).',
  })
  targetId!: string;

  @ApiProperty({
    type: Boolean,
    nullable: true,
    description:
      'Target `conversation`: whether the conversation existed when the hold was placed (a hold on one not found still ' +
      'protects it should it come back from a backup). Null for users.',
  })
  targetFound!: boolean | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Target `conversation`: its owner when the hold was placed. While the hold is in force, that user cannot be erased ' +
      'or anonymised either. Null for users and for conversations not found; the audit log’s keyed hash of the id once that ' +
      'user was erased or anonymised (released holds only).',
  })
  conversationOwnerId!: string | null;

  @ApiProperty()
  reason!: string;

  @ApiProperty({ description: 'True while the hold is in force (not released).' })
  active!: boolean;

  @ApiProperty({ type: HoldActorDto })
  placedBy!: HoldActorDto;

  @ApiProperty({ type: String, format: 'date-time' })
  placedAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  releasedAt!: string | null;

  @ApiProperty({ type: HoldActorDto, nullable: true })
  releasedBy!: HoldActorDto | null;

  @ApiProperty({ type: String, nullable: true })
  releaseReason!: string | null;
}

export class LegalHoldPageDto {
  @ApiProperty({ type: [LegalHoldDto] })
  items!: LegalHoldDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` to get the next page; null on the last page.' })
  nextCursor!: string | null;
}

export class ReleasedLegalHoldDto extends LegalHoldDto {
  @ApiProperty({ description: 'True when the hold had been released before this request (nothing changed).' })
  alreadyReleased!: boolean;
}
