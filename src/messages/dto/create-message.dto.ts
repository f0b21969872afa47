import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsString } from 'class-validator';
import { OptionalMetadata } from '../../common/validation/is-safe-metadata.validator.js';
import { Optional } from '../../common/validation/optional.js';

export class CreateMessageDto {
  @ApiProperty({ description: 'Message text, 1..CHAT_MAX_MESSAGE_LENGTH characters (default 32000), not only whitespace.' })
  @IsString()
  content!: string;

  @ApiPropertyOptional({
    enum: ['user'],
    default: 'user',
    description: 'Clients write user messages only; assistant and system messages come from the server.',
  })
  @Optional()
  @IsIn(['user'], { message: 'type must be user: assistant and system messages are written by the server' })
  type?: 'user';

  @OptionalMetadata()
  metadata?: Record<string, unknown>;
}
