import { Body, Controller, Get, HttpStatus, Param, Post, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import { CurrentUser } from '../auth/current-user.decorator.js';
import { ApiErrorResponses } from '../common/errors/api-error-responses.decorator.js';
import { IdParams, MessageInConversationParams } from '../common/mongo/object-id.js';
import { MessageDto } from '../messages/dto/message.dto.js';
import { ChatService, ReplyEvent } from './chat.service.js';
import { RegenerateDto, SendMessageDto, TurnDto } from './dto/chat.dto.js';

const SSE_HEARTBEAT_MS = 15_000;

@ApiTags('messages')
@ApiBearerAuth()
@ApiErrorResponses(400, 401, 404)
@Controller('chat/conversations/:id/messages')
export class ChatController {
  constructor(private readonly chat: ChatService) {}

  @Post()
  @ApiOperation({
    summary: 'Send a message; the conversation’s agent replies',
    description:
      'Stores your message first, then the reply. Default: waits and answers 201 with both (a failed reply is stored with status failed and ' +
      'a reason). stream=true: answers 202 at once with the pending reply, which streams over Socket.IO and the SSE route. reply=false: stores only your message.',
  })
  @ApiCreatedResponse({ type: TurnDto })
  @ApiAcceptedResponse({ type: TurnDto, description: 'stream=true: the reply is pending.' })
  @ApiErrorResponses(409, 429)
  async send(
    @CurrentUser() user: AuthenticatedUser,
    @Param() { id }: IdParams,
    @Body() dto: SendMessageDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<TurnDto> {
    const turn = await this.chat.send(user.id, id, dto, clientGone(response));
    response.status(dto.stream && turn.assistantMessage ? HttpStatus.ACCEPTED : HttpStatus.CREATED);
    return turn;
  }

  @Post(':messageId/regenerate')
  @ApiOperation({ summary: 'Produce an assistant reply again (after a failure, or for another answer)' })
  @ApiOkResponse({ type: MessageDto })
  @ApiAcceptedResponse({ type: MessageDto, description: 'stream=true: the reply is pending.' })
  @ApiErrorResponses(409, 429)
  async regenerate(
    @CurrentUser() user: AuthenticatedUser,
    @Param() { id, messageId }: MessageInConversationParams,
    @Body() dto: RegenerateDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<MessageDto> {
    const message = await this.chat.regenerate(user.id, id, messageId, dto, clientGone(response));
    response.status(dto.stream ? HttpStatus.ACCEPTED : HttpStatus.OK);
    return message;
  }

  @Get(':messageId/stream')
  @ApiOperation({
    summary: 'Follow an assistant reply as Server-Sent Events',
    description:
      'Events: `delta` ({index, text}; index -1 carries the text written before you connected), then `completed` or `failed` ({message}); ' +
      'the stream then ends. A finished reply answers with its final event at once.',
  })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'text/event-stream' })
  async stream(
    @CurrentUser() user: AuthenticatedUser,
    @Param() { id, messageId }: MessageInConversationParams,
    @Res() response: Response,
  ): Promise<void> {
    let open = false;
    const buffered: ReplyEvent[] = [];
    const write = (event: ReplyEvent) => {
      if (!open) {
        buffered.push(event);
        return;
      }
      const data = event.type === 'delta' ? { index: event.index, text: event.text } : { message: event.message };
      response.write(`event: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`);
      if (event.type !== 'delta') response.end();
    };
    // Validation errors are thrown here, before any byte is written, and answer as JSON.
    const stop = await this.chat.follow(user.id, id, messageId, write);
    response.writeHead(HttpStatus.OK, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    open = true;
    buffered.splice(0).forEach(write);
    const heartbeat = setInterval(() => response.write(': ping\n\n'), SSE_HEARTBEAT_MS);
    const close = () => {
      clearInterval(heartbeat);
      stop();
    };
    // 'close' on the response: the reply ended, or the client went away.
    response.on('close', close);
  }
}

/** Aborts when the client disconnects before its answer was sent. */
function clientGone(response: Response): AbortSignal {
  const controller = new AbortController();
  response.on('close', () => {
    if (!response.writableFinished) controller.abort();
  });
  return controller.signal;
}
