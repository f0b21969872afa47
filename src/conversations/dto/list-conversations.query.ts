import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { IntegerParam } from '../../common/validation/integer-param.js';
import { ROLE_NAME_PATTERN } from '../../auth/authenticated-user.js';
import { MUTABLE_STATUSES } from './update-conversation.dto.js';

export class ListConversationsQuery {
  @ApiPropertyOptional({ enum: MUTABLE_STATUSES, default: 'active' })
  @IsOptional()
  @IsIn(MUTABLE_STATUSES)
  status?: (typeof MUTABLE_STATUSES)[number];

  @ApiPropertyOptional({ example: 'supervisor' })
  @IsOptional()
  @IsString()
  @Matches(ROLE_NAME_PATTERN, { message: 'role must be a lower-case role name such as warehouse_operator' })
  role?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @IntegerParam(1, 100)
  limit?: number;

  @ApiPropertyOptional({ minLength: 1, description: 'nextCursor of the previous page.' })
  @IsOptional()
  @IsString()
  cursor?: string;
}
