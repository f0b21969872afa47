import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';

export class GetAttachmentQuery {
  @ApiPropertyOptional({ enum: ['text'], description: '`text` adds the extracted text to the answer.' })
  @IsOptional()
  @IsIn(['text'], { message: 'include must be text' })
  include?: 'text';
}
