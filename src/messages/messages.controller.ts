import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { IdParams } from '../common/mongo/object-id.js';
import { CreateMessageDto } from './dto/create-message.dto.js';
import { ListMessagesQuery } from './dto/list-messages.query.js';
import { MessageDto, MessagePageDto } from './dto/message.dto.js';
import { MessagesService } from './messages.service.js';

@ApiTags('messages')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 404)
@Controller('chat/conversations/:id/messages')
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  @Post()
  @ApiOperation({ summary: "Append the user's message to a conversation" })
  @ApiCreatedResponse({ type: MessageDto })
  @ApiErrorResponses(409)
  create(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams, @Body() dto: CreateMessageDto): Promise<MessageDto> {
    return this.messages.appendUserMessage(user.id, id, dto);
  }

  @Get()
  @ApiOperation({ summary: 'Read a conversation’s history, oldest or newest first (cursor pagination)' })
  @ApiOkResponse({ type: MessagePageDto })
  history(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams, @Query() query: ListMessagesQuery): Promise<MessagePageDto> {
    return this.messages.history(user.id, id, query);
  }
}
