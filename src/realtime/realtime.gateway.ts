import { HttpException, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayConnection,
  OnGatewayDisconnect,
  OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { TokenVerifier } from '../auth/token-verifier.js';
import type { AppConfig } from '../common/config/app-config.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { clientAddress } from '../common/http/client-address.js';
import { fromDriverError } from '../common/errors/store-errors.js';
import { DomainEventBus } from '../common/events/domain-event-bus.js';
import { DomainEvent } from '../common/events/domain-events.js';
import { RateLimiter } from '../common/rate-limit/rate-limiter.js';
import { findJsonProblem, jsonProblemException } from '../common/validation/untrusted-json.js';
import { createValidationPipe } from '../common/validation/validation.pipe.js';
import { ChatService } from '../chat/chat.service.js';
import { SendMessageDto } from '../chat/dto/chat.dto.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import { MessagesService } from '../messages/messages.service.js';
import { Ack, AckError, ClientEvent, JoinPayload, NAMESPACE_PATTERN, ServerEvent } from './realtime.events.js';
import { FollowState, RealtimeHub, SocketState } from './realtime.hub.js';

const OBJECT_ID = /^[0-9a-f]{24}$/;
const TYPING_THROTTLE_MS = 1000;
const TYPING_AUTO_STOP_MS = 5000;
const MAX_REPLAY = 1000;

/**
 * The Socket.IO gateway (`/ws`). Authenticates in the handshake with the same token rules as
 * HTTP (a refused token is announced as over HTTP, so bursts are audited), lets a client follow
 * conversations (`/chat/<id>`, or `/chat` plus conversation:join), replays what it missed, and
 * takes messages, typing and read receipts. Delivery of server events is the hub's job.
 */
@WebSocketGateway({ namespace: NAMESPACE_PATTERN })
export class RealtimeGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger('Realtime');
  private readonly settings: AppConfig['websockets'];
  /** The HTTP pipeline's validation, so a socket send is validated and reported exactly like a POST. */
  private readonly validation = createValidationPipe();

  @WebSocketServer()
  server!: Namespace;

  constructor(
    private readonly tokens: TokenVerifier,
    private readonly conversations: ConversationsService,
    private readonly messages: MessagesService,
    private readonly chat: ChatService,
    private readonly hub: RealtimeHub,
    private readonly rateLimiter: RateLimiter,
    private readonly events: DomainEventBus,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('websockets', { infer: true });
  }

  afterInit(server: Namespace): void {
    this.hub.attach(server);
    server.use((socket, next) => {
      this.authenticate(socket).then(
        () => {
          socket.use(refuseUntrustedPayloads);
          next();
        },
        (error: Error) => next(error),
      );
    });
    // The default namespace serves nothing: it asks for a token like the others, then refuses.
    server.server.of('/').use((socket, next) => {
      this.authenticate(socket).then(
        () => next(new Error('No such namespace: connect to /chat or /chat/<conversationId>')),
        (error: Error) => next(error),
      );
    });
  }

  async handleConnection(socket: Socket): Promise<void> {
    const state = this.state(socket);
    this.hub.register(socket);
    if (state.expiresAt) {
      const remaining = state.expiresAt.getTime() - Date.now();
      state.expiryTimer = setTimeout(
        () => {
          socket.emit(ServerEvent.SessionExpired, { message: 'Bearer token has expired; reconnect with a new one' });
          socket.disconnect(true);
        },
        Math.max(0, remaining),
      );
    }
    this.hub.presence(state.user.id, socket.id, 'online');
    this.events.publish(DomainEvent.FeatureUsed, { userId: state.user.id, feature: 'realtime', at: new Date() });
    const conversationId = conversationOfNamespace(socket);
    if (conversationId) {
      await this.follow(socket, conversationId, state.initialAfterSeq ?? null);
    }
  }

  handleDisconnect(socket: Socket): void {
    const state = socket.data as Partial<SocketState>;
    if (!state.user) return;
    clearTimeout(state.expiryTimer);
    for (const timer of state.typingTimers?.values() ?? []) clearTimeout(timer);
    this.hub.unregister(socket);
    this.hub.presence(state.user.id, socket.id, 'offline');
  }

  @SubscribeMessage(ClientEvent.Join)
  async join(
    @ConnectedSocket() socket: Socket,
    @MessageBody() payload: unknown,
  ): Promise<Ack<{ conversationId: string; replayed: number }>> {
    return this.guarded(socket, async () => {
      const { conversationId, since } = (payload ?? {}) as Partial<JoinPayload>;
      const id = requireConversationId(conversationId);
      await this.conversations.assertVisible(this.state(socket).user.id, id);
      return { conversationId: id, replayed: await this.follow(socket, id, since) };
    });
  }

  @SubscribeMessage(ClientEvent.Leave)
  async leave(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack<{ conversationId: string }>> {
    return this.guarded(socket, async () => {
      const id = requireConversationId((payload as { conversationId?: unknown } | undefined)?.conversationId);
      if (conversationOfNamespace(socket) === id)
        throw ackError(400, ErrorCode.VALIDATION_FAILED, 'This connection follows only this conversation; disconnect instead');
      this.state(socket).following.delete(id);
      return Promise.resolve({ conversationId: id });
    });
  }

  @SubscribeMessage(ClientEvent.Send)
  async send(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack<Record<string, unknown>>> {
    return this.guarded(socket, async () => {
      const { conversationId, ...body } = isObject(payload) ? payload : {};
      const id = requireConversationId(conversationId ?? conversationOfNamespace(socket));
      const dto = (await this.validation.transform(
        { stream: true, ...body },
        { type: 'body', metatype: SendMessageDto },
      )) as SendMessageDto;
      const turn = await this.chat.send(this.state(socket).user.id, id, dto);
      return { userMessage: turn.userMessage, assistantMessage: turn.assistantMessage };
    });
  }

  @SubscribeMessage(ClientEvent.TypingStart)
  typingStart(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack> {
    return this.guarded(socket, () => {
      const id = this.followed(socket, payload);
      const state = this.state(socket);
      const now = Date.now();
      if (now - (state.typingSentAt.get(id) ?? 0) >= TYPING_THROTTLE_MS) {
        state.typingSentAt.set(id, now);
        this.hub.typing(state.user.id, id, 'user', 'start', socket.id);
      }
      clearTimeout(state.typingTimers.get(id));
      state.typingTimers.set(
        id,
        setTimeout(() => this.stopTyping(socket, id), TYPING_AUTO_STOP_MS),
      );
      return Promise.resolve({});
    });
  }

  @SubscribeMessage(ClientEvent.TypingStop)
  typingStop(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack> {
    return this.guarded(socket, () => {
      this.stopTyping(socket, this.followed(socket, payload));
      return Promise.resolve({});
    });
  }

  @SubscribeMessage(ClientEvent.Read)
  read(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack> {
    return this.guarded(socket, async () => {
      const id = this.followed(socket, payload);
      const messageId = (payload as { messageId?: unknown }).messageId;
      if (typeof messageId !== 'string' || !OBJECT_ID.test(messageId))
        throw ackError(400, ErrorCode.VALIDATION_FAILED, 'messageId must be a message id');
      await this.messages.getInConversation(this.state(socket).user.id, id, messageId);
      this.hub.read(this.state(socket).user.id, id, messageId, socket.id);
      return {};
    });
  }

  private async authenticate(socket: Socket): Promise<void> {
    const { user, expiresAt } = this.verifiedCaller(socket);
    if (this.hub.connectionCount(user.id) >= this.settings.maxConnectionsPerUser) {
      throw new Error(`Too many connections: at most ${this.settings.maxConnectionsPerUser} per user`);
    }
    const conversationId = conversationOfNamespace(socket);
    if (conversationId) {
      await this.conversations.assertVisible(user.id, conversationId).catch(() => {
        throw new Error('Conversation not found');
      });
    }
    const since = (socket.handshake.auth as { since?: unknown } | undefined)?.since;
    const initialAfterSeq =
      conversationId && since !== undefined
        ? await this.sinceToSeq(user.id, conversationId, since).catch(() => {
            throw new Error('auth.since must be a seq number or a message id of this conversation');
          })
        : null;
    const state: SocketState = { user, expiresAt, initialAfterSeq, following: new Map(), typingSentAt: new Map(), typingTimers: new Map() };
    socket.data = state;
  }

  /**
   * The caller the handshake's token names. A refusal is announced as the HTTP guard announces
   * one (client address, reason, method and path; never the token), so bursts of failed
   * authentication over sockets are audited too, counted together with those over HTTP.
   */
  private verifiedCaller(socket: Socket): ReturnType<TokenVerifier['verify']> {
    try {
      const query = socket.handshake.query as Record<string, unknown>;
      if (query.token !== undefined || query.access_token !== undefined) {
        throw new Error('Tokens are not accepted in the query string; send auth.token or an Authorization header');
      }
      const header = socket.handshake.headers.authorization;
      const fromAuth = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      const token =
        typeof fromAuth === 'string' ? fromAuth : typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : undefined;
      if (!token) throw new Error('Missing bearer token: send auth.token or an Authorization header');
      return this.tokens.verify(token);
    } catch (error) {
      this.events.publish(DomainEvent.AuthenticationFailed, {
        ip: clientAddress(socket.request),
        reason: (error as Error).message,
        method: 'GET',
        // The path only: the query string may carry a token.
        path: (socket.handshake.url ?? '').split('?')[0] ?? '',
      });
      throw error;
    }
  }

  /** Joins the conversation's room, then sends what the client missed since `since`, then live traffic. */
  private async follow(socket: Socket, conversationId: string, since: unknown): Promise<number> {
    const state = this.state(socket);
    const afterSeq = await this.sinceToSeq(state.user.id, conversationId, since);
    // Followed before the replay is read: live events from now on wait in the buffer.
    const follow: FollowState = { delivered: new Set(), replaying: true, buffered: [] };
    state.following.set(conversationId, follow);
    let replayed = 0;
    if (afterSeq !== null) {
      for (const message of await this.messages.missedSince(state.user.id, conversationId, afterSeq, MAX_REPLAY)) {
        socket.emit(ServerEvent.MessageCreated, { conversationId, message, replayed: true });
        follow.delivered.add(message.id);
        replayed += 1;
      }
    }
    follow.replaying = false;
    for (const [event, payload] of follow.buffered.splice(0)) this.hub.deliverTo(socket, conversationId, event, payload);
    return replayed;
  }

  private async sinceToSeq(ownerId: string, conversationId: string, since: unknown): Promise<number | null> {
    if (since === undefined || since === null) return null;
    if (typeof since === 'number' && Number.isInteger(since) && since >= 0) return since;
    if (typeof since === 'string' && OBJECT_ID.test(since))
      return (await this.messages.getInConversation(ownerId, conversationId, since)).seq;
    throw ackError(400, ErrorCode.VALIDATION_FAILED, 'since must be a seq number or a message id');
  }

  private stopTyping(socket: Socket, conversationId: string): void {
    const state = this.state(socket);
    clearTimeout(state.typingTimers.get(conversationId));
    state.typingTimers.delete(conversationId);
    if (state.typingSentAt.delete(conversationId)) this.hub.typing(state.user.id, conversationId, 'user', 'stop', socket.id);
  }

  private followed(socket: Socket, payload: unknown): string {
    const id = requireConversationId(
      (payload as { conversationId?: unknown } | undefined)?.conversationId ?? conversationOfNamespace(socket),
    );
    if (!this.state(socket).following.has(id)) throw ackError(404, ErrorCode.CONVERSATION_NOT_FOUND, 'Join the conversation first');
    return id;
  }

  /** Runs a client event: flood limit, then the work; every failure becomes an error ack, never a disconnect. */
  private async guarded<T extends Record<string, unknown>>(socket: Socket, work: () => Promise<T>): Promise<Ack<T>> {
    const verdict = this.rateLimiter.consume(`socket:${socket.id}`, this.settings.eventsPerMinute);
    if (!verdict.allowed)
      return {
        ok: false,
        error: {
          statusCode: 429,
          code: ErrorCode.RATE_LIMITED,
          message: 'Too many events; slow down',
          details: { retryAfterSeconds: verdict.retryAfterSeconds },
        },
      };
    try {
      return { ok: true, ...(await work()) };
    } catch (error) {
      return { ok: false, error: toAckError(error, this.logger) };
    }
  }

  private state(socket: Socket): SocketState {
    return socket.data as SocketState;
  }
}

function conversationOfNamespace(socket: Socket): string | undefined {
  return /^\/chat\/([0-9a-f]{24})$/.exec(socket.nsp.name)?.[1];
}

function requireConversationId(value: unknown): string {
  if (typeof value !== 'string' || !OBJECT_ID.test(value))
    throw ackError(400, ErrorCode.VALIDATION_FAILED, 'conversationId must be a 24-character hex ObjectId');
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class AckFailure extends Error {
  constructor(readonly body: AckError) {
    super(body.message);
  }
}

function ackError(statusCode: number, code: string, message: string, details?: unknown): AckFailure {
  return new AckFailure({ statusCode, code, message, ...(details === undefined ? {} : { details }) });
}

function toAckError(thrown: unknown, logger: Logger): AckError {
  if (thrown instanceof AckFailure) return thrown.body;
  const error = fromDriverError(thrown) ?? thrown;
  if (error instanceof HttpException) {
    const body = ackErrorOf(error);
    if (body.code === ErrorCode.STORE_ERROR) logger.error({ err: thrown }, 'The store refused a realtime event');
    return body;
  }
  logger.error({ err: thrown }, 'Realtime event failed');
  return { statusCode: 500, code: ErrorCode.INTERNAL_ERROR, message: 'Internal error' };
}

/** The REST error body of an HttpException, as an ack's error. */
function ackErrorOf(error: HttpException): AckError {
  const body = error.getResponse() as Partial<AckError>;
  return {
    statusCode: error.getStatus(),
    code: body.code ?? 'ERROR',
    message: body.message ?? error.message,
    ...(body.details === undefined ? {} : { details: body.details }),
  };
}

/**
 * Socket middleware run on every incoming event before its handler: a payload that is nested too
 * deep, holds a prototype key, NUL or a lone surrogate is answered with the 400 a REST body gets
 * (same check, same body) and goes no further.
 */
function refuseUntrustedPayloads(packet: unknown[], next: (error?: Error) => void): void {
  const ack = typeof packet.at(-1) === 'function' ? (packet.at(-1) as (reply: Ack) => void) : undefined;
  for (const argument of packet.slice(1, ack ? -1 : undefined)) {
    const found = findJsonProblem(argument);
    if (found) {
      ack?.({ ok: false, error: ackErrorOf(jsonProblemException(found)) });
      return;
    }
  }
  next();
}
