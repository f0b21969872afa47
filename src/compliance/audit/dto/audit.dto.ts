import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { USER_ID_PATTERN } from '../../../auth/token-verifier.js';
import { IntegerParam } from '../../../common/validation/integer-param.js';
import { AUDIT_ACTIONS, type AuditAction } from '../audit-actions.js';

export const AUDIT_PAGE_DEFAULT_LIMIT = 50;
const CURSOR_MAX_LENGTH = 100;

export class AuditListQuery {
  @ApiPropertyOptional({ enum: AUDIT_ACTIONS, description: 'Only entries of this action.' })
  @IsOptional()
  @IsIn(AUDIT_ACTIONS)
  action?: AuditAction;

  @ApiPropertyOptional({
    example: 'admin-1',
    description: 'Only entries this user did (matched by the keyed hash of the id, so entries whose plain id was erased are found too).',
  })
  @IsOptional()
  @IsString()
  @Matches(USER_ID_PATTERN, { message: 'actorId must be a user id (letters, digits and _ . @ : | -, at most 128)' })
  actorId?: string;

  @ApiPropertyOptional({
    example: 'alice',
    description:
      'Only entries about this user’s data (matched by the keyed hash of the id, so entries about an erased user are found too).',
  })
  @IsOptional()
  @IsString()
  @Matches(USER_ID_PATTERN, { message: 'subjectId must be a user id (letters, digits and _ . @ : | -, at most 128)' })
  subjectId?: string;

  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'Only entries written at or after this time.' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'from must be an ISO 8601 date or date-time' })
  from?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Only entries written at or before this time; not before `from` (400).',
  })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'to must be an ISO 8601 date or date-time' })
  to?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: AUDIT_PAGE_DEFAULT_LIMIT })
  @IsOptional()
  @IntegerParam(1, 100)
  limit?: number;

  @ApiPropertyOptional({
    minLength: 1,
    maxLength: CURSOR_MAX_LENGTH,
    description: 'nextCursor of the previous page (with the same filters).',
  })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(CURSOR_MAX_LENGTH)
  cursor?: string;
}

export class AuditActorDto {
  @ApiPropertyOptional({
    example: 'admin-1',
    description: 'The user who acted; absent for the service’s own jobs and once the user was erased.',
  })
  userId?: string;

  @ApiPropertyOptional({ description: 'The keyed hash (HMAC-SHA256, hex) of the user id: stays when the plain id is erased.' })
  userIdHash?: string;

  @ApiPropertyOptional({ type: [String], example: ['admin'], description: 'The user’s roles when they acted.' })
  roles?: string[];

  @ApiPropertyOptional({ example: 'audit-retention', description: 'The job or part of the service that acted, when no user did.' })
  system?: string;
}

export class AuditSubjectDto {
  @ApiPropertyOptional({ example: 'alice', description: 'Whose data it concerns; absent once that user was erased or anonymised.' })
  userId?: string;

  @ApiProperty({ description: 'The keyed hash (HMAC-SHA256, hex) of the user id.' })
  userIdHash!: string;
}

export class AuditTargetDto {
  @ApiProperty({ example: 'agent' })
  type!: string;

  @ApiProperty({ example: 'picking-assistant' })
  id!: string;
}

export class AuditEntryDto {
  @ApiProperty({ type: 'integer', example: 42, description: 'The entry’s place in the chain: 1, 2, 3, ... without gaps.' })
  seq!: number;

  @ApiProperty({ type: String, format: 'date-time' })
  at!: string;

  @ApiProperty({ enum: AUDIT_ACTIONS })
  action!: AuditAction;

  @ApiProperty({ type: AuditActorDto })
  actor!: AuditActorDto;

  @ApiProperty({ type: AuditSubjectDto, nullable: true, description: 'Whose data it concerns; null when no one person’s.' })
  subject!: AuditSubjectDto | null;

  @ApiProperty({ type: AuditTargetDto, nullable: true })
  target!: AuditTargetDto | null;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: { change: 'updated', version: 4, fields: ['systemPrompt'] },
    description: 'Counts, reasons, ids of records (never personal data); which fields depends on the action.',
  })
  details!: Record<string, unknown>;

  @ApiProperty({ type: String, nullable: true, description: 'The hash of the entry before; null for the first entry ever.' })
  prevHash!: string | null;

  @ApiProperty({ description: 'HMAC-SHA256 (hex) over the entry’s canonical JSON (all but the plain user ids) under the audit hash key.' })
  hash!: string;
}

export class AuditPageDto {
  @ApiProperty({ type: [AuditEntryDto], description: 'Newest first.' })
  items!: AuditEntryDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `cursor` (with the same filters) to get the next page; null on the last page.',
  })
  nextCursor!: string | null;
}
