import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { MESSAGE_STATUSES, MESSAGE_TYPES, type MessageStatus, type MessageType } from '../schemas/message.schema.js';

export class TokenUsageDto {
  @ApiProperty({ example: 412 })
  prompt!: number;

  @ApiProperty({ example: 96 })
  completion!: number;

  @ApiProperty({ example: 508 })
  total!: number;
}

export class MessageErrorDto {
  @ApiProperty({ example: 'PROVIDER_TIMEOUT' })
  code!: string;

  @ApiProperty({ example: 'The assistant took too long to answer. Try again.' })
  message!: string;
}

export class GenerationInfoDto {
  @ApiProperty({ example: 'picking-assistant' })
  agentKey!: string;

  @ApiProperty({ example: 3 })
  agentVersion!: number;

  @ApiProperty({ example: 'playbook' })
  provider!: string;

  @ApiProperty({ type: String, nullable: true, example: 'gpt-4o-mini' })
  model!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'stop' })
  finishReason!: string | null;

  @ApiProperty({ type: Number, nullable: true, example: 180, description: 'Milliseconds to the first streamed text.' })
  timeToFirstToken!: number | null;

  @ApiProperty({ example: 1, description: '1 for the first answer, +1 per regeneration.' })
  attempt!: number;
}

export class MessageDto {
  @ApiProperty({ example: '665f1c2e9b1d8a0012345679' })
  id!: string;

  @ApiProperty({ example: '665f1c2e9b1d8a0012345678' })
  conversationId!: string;

  @ApiProperty({ enum: MESSAGE_TYPES, example: 'user' })
  type!: MessageType;

  @ApiProperty({ example: 'Where do I put back a damaged tote?', description: 'Empty while an assistant reply is pending.' })
  content!: string;

  @ApiProperty({ enum: MESSAGE_STATUSES, example: 'completed' })
  status!: MessageStatus;

  @ApiPropertyOptional({ type: MessageErrorDto, description: 'Why a reply failed (status failed).' })
  error?: MessageErrorDto;

  @ApiPropertyOptional({
    type: GenerationInfoDto,
    description: 'Assistant replies: the agent version, provider and model that produced it.',
  })
  generation?: GenerationInfoDto;

  @ApiProperty({ type: 'object', additionalProperties: true })
  metadata!: Record<string, unknown>;

  @ApiProperty({ type: String, format: 'date-time' })
  timestamp!: string;

  @ApiProperty({ example: 7, description: 'Per-conversation sequence number, strictly increasing.' })
  seq!: number;

  @ApiProperty({ example: 0, description: 'Files attached to the message (GET /chat/messages/:id/attachments).' })
  attachmentCount!: number;

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
