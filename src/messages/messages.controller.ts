import { Controller, Delete, Get, HttpCode, HttpStatus, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { ErrorResponseDto } from '../common/errors/error-response.dto.js';
import { IdParams, MessageInConversationParams } from '../common/mongo/object-id.js';
import { DELETION_REFUSED_DESCRIPTION } from '../common/user-data/deletion-guard.js';
import { ListMessagesQuery } from './dto/list-messages.query.js';
import { MessagePageDto } from './dto/message.dto.js';
import { MessagesService } from './messages.service.js';

@ApiTags('messages')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 404)
@Controller('chat/conversations/:id/messages')
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  @Get()
  @ApiOperation({ summary: 'Read a conversation’s history, oldest or newest first (cursor pagination)' })
  @ApiOkResponse({ type: MessagePageDto })
  history(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams, @Query() query: ListMessagesQuery): Promise<MessagePageDto> {
    return this.messages.history(user.id, id, query);
  }

  @Delete(':messageId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete a message and its attachments' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiResponse({
    status: HttpStatus.CONFLICT,
    description: `The reply is still being written (code REPLY_IN_PROGRESS), or: ${DELETION_REFUSED_DESCRIPTION}`,
    type: ErrorResponseDto,
  })
  remove(@CurrentUser() user: AuthenticatedUser, @Param() { id, messageId }: MessageInConversationParams): Promise<void> {
    return this.messages.remove(user.id, id, messageId);
  }
}
