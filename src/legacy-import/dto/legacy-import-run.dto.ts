import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, Matches } from 'class-validator';
import { ROLE_NAME_PATTERN } from '../../auth/authenticated-user.js';
import { IsObjectId } from '../../common/mongo/object-id.js';
import { Optional } from '../../common/validation/optional.js';
import { LEGACY_IMPORT_STATES, type LegacyImportState } from '../schemas/legacy-import-run.schema.js';
import { LEGACY_SHAPES } from '../reader/legacy-dump-reader.js';
import { DEFAULT_LEGACY_ROLE } from '../legacy-import-report.js';

export class LegacyImportQuery {
  @ApiPropertyOptional({ enum: ['true', 'false'], default: 'false', description: 'true: validate and count only; nothing is written.' })
  @Optional()
  @IsIn(['true', 'false'])
  dryRun?: 'true' | 'false';

  @ApiPropertyOptional({
    default: DEFAULT_LEGACY_ROLE,
    pattern: ROLE_NAME_PATTERN.source,
    description: 'The WMS role of conversations that name none (or one no agent serves); an agent must serve it.',
  })
  @Optional()
  @Matches(ROLE_NAME_PATTERN, { message: 'role must be a lower-case role name such as warehouse_operator' })
  role?: string;
}

export class LegacyImportIdParams {
  @ApiProperty({ description: 'Legacy import id (24 hex characters).', example: '665f1c2e9b1d8a0012345678' })
  @IsObjectId('importId')
  importId!: string;
}

export class LegacyImportCountsDto {
  @ApiProperty({ description: 'Users whose records were read.' })
  users!: number;
  @ApiProperty({ description: 'Legacy conversations read to their end.' })
  conversations!: number;
  @ApiProperty({ description: 'Message records read (a question with its answer is one record, two messages).' })
  records!: number;
  @ApiProperty({ description: 'Messages written (in a dry run: that would be written).' })
  imported!: number;
  @ApiProperty({ description: 'Messages an earlier import wrote already.' })
  alreadyPresent!: number;
  @ApiProperty({
    description: 'Messages not written on purpose (an erased user, a conversation deleted here since), each explained in the report.',
  })
  skipped!: number;
  @ApiProperty({ description: 'Records refused as malformed, each with its reason and JSON path in the report.' })
  rejected!: number;
  @ApiProperty({ description: 'Conversations created (in a dry run: that would be created).' })
  conversationsCreated!: number;
}

export class LegacyImportRunDto {
  @ApiProperty({ example: '665f1c2e9b1d8a0012345678' })
  id!: string;

  @ApiProperty({
    enum: LEGACY_IMPORT_STATES,
    description: 'queued → running → succeeded | failed. A run whose instance stopped is resumed (running again).',
  })
  state!: LegacyImportState;

  @ApiProperty()
  dryRun!: boolean;

  @ApiProperty({ example: DEFAULT_LEGACY_ROLE })
  defaultRole!: string;

  @ApiProperty({ description: 'Size of the uploaded dump.' })
  bytes!: number;

  @ApiProperty({ type: LegacyImportCountsDto, nullable: true, description: 'So far while running; null before it starts.' })
  counts!: LegacyImportCountsDto | null;

  @ApiProperty({ enum: LEGACY_SHAPES, isArray: true, description: 'The dump shapes found, once finished.' })
  shapes!: string[];

  @ApiProperty({ type: Boolean, nullable: true, description: 'The dump was read to its end (false: bad JSON stopped it; see error).' })
  complete!: boolean | null;

  @ApiProperty({ type: String, nullable: true })
  error!: string | null;

  @ApiProperty({ description: 'Runs started (a resumed run counts); it fails after 3.' })
  attempts!: number;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  startedAt!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finishedAt!: string | null;

  @ApiProperty({ description: 'The report: every rejected and skipped record with its JSON path and reason, and the counts.' })
  reportUrl!: string;
}
