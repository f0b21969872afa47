import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { ROLE_NAME_PATTERN } from '../../auth/authenticated-user.js';
import { AGENT_KEY_PATTERN } from '../../agents/dto/agent-input.dto.js';
import { OptionalMetadata } from '../../common/validation/is-safe-metadata.validator.js';
import { Optional } from '../../common/validation/optional.js';

export const TITLE_MAX_LENGTH = 200;

export class CreateConversationDto {
  @ApiPropertyOptional({ maxLength: TITLE_MAX_LENGTH, example: 'Cycle count discrepancy in zone B' })
  @Optional()
  @IsString()
  @MinLength(1)
  @MaxLength(TITLE_MAX_LENGTH)
  title?: string;

  @ApiPropertyOptional({
    example: 'inventory_manager',
    description: "WMS role whose agent answers; one of the caller's roles. Defaults to the caller's first WMS role.",
  })
  @Optional()
  @IsString()
  @Matches(ROLE_NAME_PATTERN, { message: 'role must be a lower-case role name such as warehouse_operator' })
  role?: string;

  @ApiPropertyOptional({
    example: 'inventory-assistant',
    description: 'Agent to talk to (GET /chat/agents lists yours). Default: the role’s default agent.',
  })
  @Optional()
  @IsString()
  @Matches(AGENT_KEY_PATTERN, { message: 'agentKey must be an agent key such as picking-assistant' })
  agentKey?: string;

  @OptionalMetadata()
  metadata?: Record<string, unknown>;
}
