import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, MaxLength, MinLength, ValidateIf } from 'class-validator';
import { OptionalMetadata } from '../../common/validation/is-safe-metadata.validator.js';
import { TITLE_MAX_LENGTH } from './create-conversation.dto.js';
import { Optional } from '../../common/validation/optional.js';
import { RequiresSomeProperty } from '../../common/openapi/strict-request-bodies.js';

export const MUTABLE_STATUSES = ['active', 'archived'] as const;

@RequiresSomeProperty()
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
  @Optional()
  @IsIn(MUTABLE_STATUSES)
  status?: (typeof MUTABLE_STATUSES)[number];
}
