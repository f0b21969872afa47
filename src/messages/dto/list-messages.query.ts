import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString } from 'class-validator';
import { IntegerParam } from '../../common/validation/integer-param.js';

export class ListMessagesQuery {
  @ApiPropertyOptional({ enum: ['asc', 'desc'], default: 'asc', description: 'asc: oldest first; desc: newest first.' })
  @IsOptional()
  @IsIn(['asc', 'desc'])
  order?: 'asc' | 'desc';

  @ApiPropertyOptional({ minLength: 1, description: 'With order=asc: nextCursor of the previous page.' })
  @IsOptional()
  @IsString()
  after?: string;

  @ApiPropertyOptional({ minLength: 1, description: 'With order=desc: nextCursor of the previous page.' })
  @IsOptional()
  @IsString()
  before?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional()
  @IntegerParam(1, 200)
  limit?: number;
}
