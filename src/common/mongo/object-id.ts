import { ApiProperty } from '@nestjs/swagger';
import { IsMongoId } from 'class-validator';

/** Route params `:id` validated as a 24-hex ObjectId before any query runs. */
export class IdParams {
  @ApiProperty({ description: 'Resource id (24 hex characters).', example: '665f1c2e9b1d8a0012345678' })
  @IsMongoId({ message: 'id must be a 24-character hex ObjectId' })
  id!: string;
}

/** Route params `:id` (conversation) and `:messageId`, both ObjectIds. */
export class MessageInConversationParams {
  @ApiProperty({ description: 'Conversation id.', example: '665f1c2e9b1d8a0012345678' })
  @IsMongoId({ message: 'id must be a 24-character hex ObjectId' })
  id!: string;

  @ApiProperty({ description: 'Message id.', example: '665f1c2e9b1d8a0012345679' })
  @IsMongoId({ message: 'messageId must be a 24-character hex ObjectId' })
  messageId!: string;
}
