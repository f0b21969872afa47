import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsString, MinLength } from 'class-validator';
import { IntegerParam } from '../../common/validation/integer-param.js';

export const CONVERSATION_EXPORT_FORMATS = ['json', 'csv', 'md', 'pdf'] as const;
export const HISTORY_EXPORT_FORMATS = ['json', 'csv', 'zip'] as const;

export class ConversationExportQuery {
  @ApiPropertyOptional({ enum: CONVERSATION_EXPORT_FORMATS, default: 'json' })
  @IsOptional()
  @IsIn(CONVERSATION_EXPORT_FORMATS)
  format?: (typeof CONVERSATION_EXPORT_FORMATS)[number];
}

export class HistoryExportQuery {
  @ApiPropertyOptional({
    enum: HISTORY_EXPORT_FORMATS,
    default: 'json',
    description: 'zip: one JSON file per conversation plus index.json.',
  })
  @IsOptional()
  @IsIn(HISTORY_EXPORT_FORMATS)
  format?: (typeof HISTORY_EXPORT_FORMATS)[number];

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Only messages at or after this time (and conversations active since).',
  })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'from must be an ISO 8601 date or date-time' })
  from?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Only messages at or before this time (and conversations started by then); not before `from` (400).',
  })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'to must be an ISO 8601 date or date-time' })
  to?: string;
}

export class MessageChangesQuery {
  @ApiPropertyOptional({ enum: ['ndjson'], default: 'ndjson' })
  @IsOptional()
  @IsIn(['ndjson'])
  format?: 'ndjson';

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Messages changed at or after this time (default: all). Ignored with cursor.',
  })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'updatedSince must be an ISO 8601 date or date-time' })
  updatedSince?: string;

  @ApiPropertyOptional({ description: 'The exportCursor of the last line received: resume right after it.' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  cursor?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100000, default: 10000, description: 'Lines in this response at most.' })
  @IsOptional()
  @IntegerParam(1, 100_000)
  limit?: number;
}
