import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { MESSAGE_TYPES, type MessageType } from '../schemas/message.schema.js';

export class TokenUsageDto {
  @ApiProperty({ example: 412 })
  prompt!: number;

  @ApiProperty({ example: 96 })
  completion!: number;

  @ApiProperty({ example: 508 })
  total!: number;
}

export class MessageDto {
  @ApiProperty({ example: '665f1c2e9b1d8a0012345679' })
  id!: string;

  @ApiProperty({ example: '665f1c2e9b1d8a0012345678' })
  conversationId!: string;

  @ApiProperty({ enum: MESSAGE_TYPES, example: 'user' })
  type!: MessageType;

  @ApiProperty({ example: 'Where do I put back a damaged tote?' })
  content!: string;

  @ApiProperty({ type: 'object', additionalProperties: true })
  metadata!: Record<string, unknown>;

  @ApiProperty({ type: String, format: 'date-time' })
  timestamp!: string;

  @ApiProperty({ example: 7, description: 'Per-conversation sequence number, strictly increasing.' })
  seq!: number;

  @ApiPropertyOptional({ type: TokenUsageDto })
  tokensUsed?: TokenUsageDto;

  @ApiPropertyOptional({ example: 840, description: 'Milliseconds spent producing the message.' })
  processingTime?: number;
}

export class MessagePageDto {
  @ApiProperty({ type: [MessageDto] })
  items!: MessageDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `after` (order=asc) or `before` (order=desc) for the next page; null on the last page.',
  })
  nextCursor!: string | null;
}
