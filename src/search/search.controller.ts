import { Controller, Get, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { ConversationSearchPageDto, MessageSearchPageDto, SearchQueryDto } from './dto/search.dto.js';
import { SearchService } from './search.service.js';

/** Registered before the conversations module, so `/conversations/search` is not read as `/conversations/:id`. */
@ApiTags('search')
@ApiBearerAuth()
@ApiErrorResponses(400, 401)
@Controller('chat')
export class SearchController {
  constructor(private readonly search: SearchService) {}

  @Get('conversations/search')
  @ApiOperation({
    summary: 'Find your conversations by their messages, titles and files, best first',
    description:
      'Each hit carries up to three snippets with highlight offsets. Relevance counts matching messages (1), files (1.5) and a matching ' +
      'title (5); ties go to the most recent conversation. Ranking considers the newest 2000 matching messages.',
  })
  @ApiOkResponse({ type: ConversationSearchPageDto })
  conversations(@CurrentUser() user: AuthenticatedUser, @Query() query: SearchQueryDto): Promise<ConversationSearchPageDto> {
    return this.search.searchConversations(user.id, query);
  }

  @Get('messages/search')
  @ApiOperation({
    summary: 'Find your messages (and files on them), newest first',
    description: 'A page can hold fewer than `limit` hits when phrase checks reject many candidates; follow `nextCursor` until it is null.',
  })
  @ApiOkResponse({ type: MessageSearchPageDto })
  messages(@CurrentUser() user: AuthenticatedUser, @Query() query: SearchQueryDto): Promise<MessageSearchPageDto> {
    return this.search.searchMessages(user.id, query);
  }
}
