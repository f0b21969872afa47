import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean } from 'class-validator';
import { CreateMessageDto } from '../../messages/dto/create-message.dto.js';
import { MessageDto } from '../../messages/dto/message.dto.js';
import { Optional } from '../../common/validation/optional.js';

export class SendMessageDto extends CreateMessageDto {
  @ApiPropertyOptional({ default: true, description: 'false stores the message without asking the agent.' })
  @Optional()
  @IsBoolean()
  reply?: boolean;

  @ApiPropertyOptional({
    default: false,
    description: 'true answers 202 at once; the reply streams over Socket.IO and GET .../messages/:messageId/stream (SSE).',
  })
  @Optional()
  @IsBoolean()
  stream?: boolean;
}

export class RegenerateDto {
  @ApiPropertyOptional({ default: false, description: 'true answers 202 at once and streams the new reply.' })
  @Optional()
  @IsBoolean()
  stream?: boolean;
}

export class TurnDto {
  @ApiProperty({ type: MessageDto })
  userMessage!: MessageDto;

  @ApiProperty({
    type: MessageDto,
    nullable: true,
    description: 'The reply: completed or failed (status and error say which); pending when streamed; null with reply=false.',
  })
  assistantMessage!: MessageDto | null;
}
