import { ApiProperty } from '@nestjs/swagger';
import { CONVERSATION_STATUSES, type ConversationStatus } from '../schemas/conversation.schema.js';

export class ConversationDto {
  @ApiProperty({ example: '665f1c2e9b1d8a0012345678' })
  id!: string;

  @ApiProperty({ example: 'alice', description: 'Owner (the token subject).' })
  userId!: string;

  @ApiProperty({ type: String, nullable: true, example: 'Short pick at aisle 12' })
  title!: string | null;

  @ApiProperty({ example: 'warehouse_operator', description: 'WMS role whose agent this conversation talks to.' })
  role!: string;

  @ApiProperty({ type: String, nullable: true, example: 'picking-assistant', description: 'The agent that answers.' })
  agentKey!: string | null;

  @ApiProperty({ enum: CONVERSATION_STATUSES, example: 'active' })
  status!: ConversationStatus;

  @ApiProperty({ type: 'object', additionalProperties: true, example: { site: 'DC-01' } })
  metadata!: Record<string, unknown>;

  @ApiProperty({ type: Number, example: 12 })
  messageCount!: number;

  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  lastMessageAt!: string | null;

  @ApiProperty({ type: String, format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ type: String, format: 'date-time' })
  updatedAt!: string;
}

export class ConversationPageDto {
  @ApiProperty({ type: [ConversationDto] })
  items!: ConversationDto[];

  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` to get the next page; null on the last page.' })
  nextCursor!: string | null;
}
