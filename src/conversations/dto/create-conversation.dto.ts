import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { IsSafeMetadata } from '../../common/validation/is-safe-metadata.validator.js';

export const TITLE_MAX_LENGTH = 200;
export const ROLE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

export class CreateConversationDto {
  @ApiPropertyOptional({ maxLength: TITLE_MAX_LENGTH, example: 'Cycle count discrepancy in zone B' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(TITLE_MAX_LENGTH)
  title?: string;

  @ApiPropertyOptional({
    example: 'inventory_manager',
    description: "WMS role whose agent answers; one of the caller's roles. Defaults to the caller's first WMS role.",
  })
  @IsOptional()
  @IsString()
  @Matches(ROLE_PATTERN, { message: 'role must be a lower-case role name such as warehouse_operator' })
  role?: string;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Free-form JSON, at most 16 KB; keys may not start with $ or contain dots.',
  })
  @IsOptional()
  @IsSafeMetadata()
  metadata?: Record<string, unknown>;
}
