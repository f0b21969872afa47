import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';

/** An ObjectId as clients write it: exactly 24 hex digits (no `0x`, no padding). */
export const OBJECT_ID_PATTERN = /^[0-9a-fA-F]{24}$/;

/** The rule for an ObjectId field; the OpenAPI document declares it as the same pattern. */
export function IsObjectId(field: string): PropertyDecorator {
  return Matches(OBJECT_ID_PATTERN, { message: `${field} must be a 24-character hex ObjectId` });
}

/** Route params `:id` validated as a 24-hex ObjectId before any query runs. */
export class IdParams {
  @ApiProperty({ description: 'Resource id (24 hex characters).', example: '665f1c2e9b1d8a0012345678' })
  @IsObjectId('id')
  id!: string;
}

/** Route params `:id` (conversation) and `:messageId`, both ObjectIds. */
export class MessageInConversationParams {
  @ApiProperty({ description: 'Conversation id.', example: '665f1c2e9b1d8a0012345678' })
  @IsObjectId('id')
  id!: string;

  @ApiProperty({ description: 'Message id.', example: '665f1c2e9b1d8a0012345679' })
  @IsObjectId('messageId')
  messageId!: string;
}
