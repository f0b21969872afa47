import { Body, Controller, HttpCode, HttpStatus, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { IdParams } from '../common/mongo/object-id.js';
import { FeedbackDto, SubmitFeedbackDto } from './dto/feedback.dto.js';
import { FeedbackService } from './feedback.service.js';

@ApiTags('feedback')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 404)
@Controller('chat/messages')
export class FeedbackController {
  constructor(private readonly feedback: FeedbackService) {}

  @Post(':id/feedback')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Rate an assistant reply (up or down, optional comment); rating again changes it' })
  @ApiOkResponse({ type: FeedbackDto })
  submit(@CurrentUser() user: AuthenticatedUser, @Param() { id }: IdParams, @Body() dto: SubmitFeedbackDto): Promise<FeedbackDto> {
    return this.feedback.submit(user.id, id, dto);
  }
}
