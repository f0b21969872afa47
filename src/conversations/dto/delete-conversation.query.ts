import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';

export class DeleteConversationQuery {
  @ApiPropertyOptional({
    enum: ['true', 'false'],
    default: 'false',
    description: 'true marks it deleted (hidden everywhere) instead of archiving it.',
  })
  @IsOptional()
  @IsIn(['true', 'false'])
  permanent?: 'true' | 'false';
}
