import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import { IsObjectId } from '../../../common/mongo/object-id.js';
import { DATA_EXPORT_STATUSES, type DataExportStatus } from '../schemas/data-export.schema.js';

/** A user id as tokens carry it (`sub`): the same rule the token verifier applies. */
export const USER_ID_PATTERN = /^[\w.@:|-]{1,128}$/;

export class ExportIdParams {
  @ApiProperty({ description: 'Data export id (24 hex characters).', example: '665f1c2e9b1d8a0012345678' })
  @IsObjectId('exportId')
  exportId!: string;
}

export class UserIdParams {
  @ApiProperty({
    description: 'The user whose data to export: a token subject (1–128 letters, digits and `_ . @ : | -`).',
    example: 'alice',
  })
  @Matches(USER_ID_PATTERN, { message: 'userId must be 1-128 characters of letters, digits and _ . @ : | -' })
  userId!: string;
}

export class DataExportRequesterDto {
  @ApiProperty({ example: 'alice' })
  userId!: string;

  @ApiProperty({ type: [String], example: ['warehouse_operator'], description: 'The roles the requester’s token carried.' })
  roles!: string[];
}

export class DataExportProgressDto {
  @ApiProperty({ type: Number, description: 'Archive entries written so far.', example: 4 })
  parts!: number;

  @ApiProperty({ type: Number, description: 'Records written so far.', example: 1200 })
  records!: number;

  @ApiProperty({ type: Number, description: 'Uncompressed bytes written into the archive so far.', example: 524288 })
  bytes!: number;

  @ApiProperty({ type: String, nullable: true, description: 'The archive entry being written.', example: 'json/messages.jsonl' })
  currentPart!: string | null;
}

export class DataExportArchiveDto {
  @ApiProperty({ type: Number, description: 'Size of the zip in bytes.', example: 1048576 })
  size!: number;

  @ApiProperty({ description: 'SHA-256 of the zip (hex); the download’s ETag and Repr-Digest carry it too.', example: 'a'.repeat(64) })
  sha256!: string;
}

export class DataExportDto {
  @ApiProperty({ example: '665f1c2e9b1d8a0012345678' })
  id!: string;

  @ApiProperty({ description: 'Whose data the archive holds.', example: 'alice' })
  subjectUserId!: string;

  @ApiProperty({ type: DataExportRequesterDto })
  requestedBy!: DataExportRequesterDto;

  @ApiProperty({
    enum: DATA_EXPORT_STATUSES,
    description: 'queued → running → ready (downloadable until expiresAt, then expired), or failed after 3 attempts.',
  })
  status!: DataExportStatus;

  @ApiProperty({ type: DataExportProgressDto })
  progress!: DataExportProgressDto;

  @ApiProperty({ type: Number, description: 'Runs started (an interrupted run is resumed from scratch, up to 3).', example: 1 })
  attempts!: number;

  @ApiProperty({ type: String, nullable: true, description: 'Why the last attempt failed.' })
  error!: string | null;

  @ApiProperty({ type: DataExportArchiveDto, nullable: true, description: 'The archive, once ready (null before and after expiry).' })
  archive!: DataExportArchiveDto | null;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  startedAt!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finishedAt!: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the archive stops being downloadable (finishedAt + CHAT_DATA_EXPORT_TTL_HOURS).',
  })
  expiresAt!: string | null;
}
