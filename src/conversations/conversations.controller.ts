import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { ErrorResponseDto } from '../common/errors/error-response.dto.js';
import { IdParams } from '../common/mongo/object-id.js';
import { DELETION_REFUSED_DESCRIPTION } from '../common/user-data/deletion-guard.js';
import { ConversationsService } from './conversations.service.js';
import { ConversationDto, ConversationPageDto } from './dto/conversation.dto.js';
import { CreateConversationDto } from './dto/create-conversation.dto.js';
import { DeleteConversationQuery } from './dto/delete-conversation.query.js';
import { ListConversationsQuery } from './dto/list-conversations.query.js';
import { UpdateConversationDto } from './dto/update-conversation.dto.js';

@ApiTags('conversations')
@ApiBearerAuth()
@ApiErrorResponses(400, 401)
@Controller('chat/conversations')
export class ConversationsController {
  constructor(private readonly conversations: ConversationsService) {}

  @Post()
  @ApiOperation({ summary: 'Start a conversation' })
  @ApiCreatedResponse({ type: ConversationDto })
  @ApiErrorResponses(403)
  create(@CurrentUser() user: AuthenticatedUser, @Body() dto: CreateConversationDto): Promise<ConversationDto> {
    return this.conversations.create(user, dto);
  }

  @Get()
  @ApiOperation({ summary: 'List own conversations, newest activity first (cursor pagination)' })
  @ApiOkResponse({ type: ConversationPageDto })
  list(@CurrentUser() user: AuthenticatedUser, @Query() query: ListConversationsQuery): Promise<ConversationPageDto> {
    return this.conversations.list(user.id, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get one conversation' })
  @ApiOkResponse({ type: ConversationDto })
  @ApiErrorResponses(404)
  get(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams): Promise<ConversationDto> {
    return this.conversations.get(user.id, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Rename, replace metadata, archive or restore' })
  @ApiOkResponse({ type: ConversationDto })
  @ApiErrorResponses(404)
  update(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams, @Body() dto: UpdateConversationDto): Promise<ConversationDto> {
    return this.conversations.update(user.id, id, dto);
  }

  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Archive (soft delete); with permanent=true mark deleted and hide everywhere',
    description: 'Archiving is always possible; deleting for good is refused while a legal hold covers the conversation or you (409).',
  })
  @ApiNoContentResponse({ description: 'Archived or deleted.' })
  @ApiErrorResponses(404)
  @ApiResponse({ status: HttpStatus.CONFLICT, description: `permanent=true only. ${DELETION_REFUSED_DESCRIPTION}`, type: ErrorResponseDto })
  async remove(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams, @Query() query: DeleteConversationQuery): Promise<void> {
    await this.conversations.remove(user.id, id, query.permanent === 'true');
  }
}
