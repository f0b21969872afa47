import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength, MinLength, ValidateIf } from 'class-validator';
import { OptionalMetadata } from '../../common/validation/is-safe-metadata.validator.js';
import { TITLE_MAX_LENGTH } from './create-conversation.dto.js';

export const MUTABLE_STATUSES = ['active', 'archived'] as const;

export class UpdateConversationDto {
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: TITLE_MAX_LENGTH, description: 'New title; null clears it.' })
  @ValidateIf((_, value) => value !== null)
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(TITLE_MAX_LENGTH)
  title?: string | null;

  @OptionalMetadata('Replaces the whole metadata object; at most 16 KB, keys may not start with $ or contain dots.')
  metadata?: Record<string, unknown>;

  @ApiPropertyOptional({ enum: MUTABLE_STATUSES, description: 'Archive or restore. Deleting is DELETE ?permanent=true.' })
  @IsOptional()
  @IsIn(MUTABLE_STATUSES)
  status?: (typeof MUTABLE_STATUSES)[number];
}
