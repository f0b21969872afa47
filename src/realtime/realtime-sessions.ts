import { HttpException, Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { TokenVerifier } from '../auth/token-verifier.js';
import type { AppConfig } from '../common/config/app-config.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { fromDriverError } from '../common/errors/store-errors.js';
import { DomainEventBus } from '../common/events/domain-event-bus.js';
import { DomainEvent } from '../common/events/domain-events.js';
import { RateLimiter } from '../common/rate-limit/rate-limiter.js';
import { findJsonProblem, jsonProblemException } from '../common/validation/untrusted-json.js';
import { createValidationPipe } from '../common/validation/validation.pipe.js';
import { ChatService } from '../chat/chat.service.js';
import { SendMessageDto } from '../chat/dto/chat.dto.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import type { MessageDto } from '../messages/dto/message.dto.js';
import { MessagesService } from '../messages/messages.service.js';
import { ConnectionSlots } from './connection-slots.js';
import type { ClientState, FollowState, RealtimeClient } from './realtime-client.js';
import { Ack, AckError, ClientEvent, JoinPayload, ServerEvent } from './realtime.events.js';
import { RealtimeHub } from './realtime.hub.js';

const OBJECT_ID = /^[0-9a-f]{24}$/;
const TYPING_THROTTLE_MS = 1000;
const TYPING_AUTO_STOP_MS = 5000;
const MAX_REPLAY = 1000;
/** How long the ids a replay sent are kept to drop a live event of the same message. */
const REPLAYED_IDS_KEPT_MS = 30_000;

/** A connection refused before it is admitted: the HTTP status and code say why, the message is for people. */
export class RealtimeRefusal extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What a connection presents to be admitted, however its protocol carries it. */
export interface Admission {
  /** The bearer token, or undefined when none was sent. */
  token: string | undefined;
  /** A token was offered in the URL's query string, where it would be logged: refused. */
  tokenInQuery: boolean;
  /** How this protocol sends a token, for the message that refuses a missing one. */
  tokenHint: string;
  /** The client's address and the path it connected to, for the audit of refused tokens. */
  ip: string;
  path: string;
  /** The conversation the connection is for (`/chat/<id>`, `/ws/chat/<id>`), if one. */
  conversationId?: string;
  /** For that conversation: the last seq number or message id the client saw. */
  since?: unknown;
}

/**
 * The realtime protocol's rules, once for both transports (Socket.IO and the plain WebSocket):
 * who is admitted, following with replay of missed messages, sending through the chat turn,
 * typing, read receipts, the per-connection event rate, and errors as acks. The transports only
 * carry frames; delivery of server events is the hub's job.
 */
@Injectable()
export class RealtimeSessions {
  private readonly logger = new Logger('Realtime');
  private readonly settings: AppConfig['websockets'];
  /** The HTTP pipeline's validation, so a realtime send is validated and reported exactly like a POST. */
  private readonly validation = createValidationPipe();

  private readonly handlers: Record<string, (client: RealtimeClient, payload: unknown) => Promise<Ack<Record<string, unknown>>>> = {
    [ClientEvent.Join]: (client, payload) => this.join(client, payload),
    [ClientEvent.Leave]: (client, payload) => this.leave(client, payload),
    [ClientEvent.Send]: (client, payload) => this.send(client, payload),
    [ClientEvent.TypingStart]: (client, payload) => this.typingStart(client, payload),
    [ClientEvent.TypingStop]: (client, payload) => this.typingStop(client, payload),
    [ClientEvent.Read]: (client, payload) => this.read(client, payload),
  };

  constructor(
    private readonly tokens: TokenVerifier,
    private readonly conversations: ConversationsService,
    private readonly messages: MessagesService,
    private readonly chat: ChatService,
    private readonly hub: RealtimeHub,
    private readonly slots: ConnectionSlots,
    private readonly rateLimiter: RateLimiter,
    private readonly events: DomainEventBus,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('websockets', { infer: true });
  }

  /**
   * Checks what a new connection presents (token, the conversation's visibility, `since`, then
   * the per-user connection cap, across instances with Redis) and answers the state it starts with, or throws a RealtimeRefusal. A refused token is
   * announced as the HTTP guard announces one (client address, reason, path; never the token), so
   * bursts of failed authentication are audited together with those over HTTP.
   */
  async admit(admission: Admission): Promise<ClientState> {
    const { user, expiresAt } = this.verifiedCaller(admission);
    const { conversationId, since } = admission;
    if (conversationId) {
      const notFound = new RealtimeRefusal(404, ErrorCode.CONVERSATION_NOT_FOUND, 'Conversation not found');
      if (!OBJECT_ID.test(conversationId)) throw notFound;
      await this.conversations.assertVisible(user.id, conversationId).catch((error: unknown) => {
        throw isClientError(error) ? notFound : unavailable(error, this.logger);
      });
    }
    const initialAfterSeq =
      conversationId && since !== undefined
        ? await this.sinceToSeq(user.id, conversationId, since).catch((error: unknown) => {
            throw isClientError(error)
              ? new RealtimeRefusal(400, ErrorCode.VALIDATION_FAILED, 'since must be a seq number or a message id of this conversation')
              : unavailable(error, this.logger);
          })
        : null;
    // Last, so a connection refused for another reason takes no slot.
    const slot = await this.slots.reserve(user.id, this.settings.maxConnectionsPerUser);
    if (slot === null) {
      throw new RealtimeRefusal(
        429,
        ErrorCode.RATE_LIMITED,
        `Too many connections: at most ${this.settings.maxConnectionsPerUser} per user`,
      );
    }
    return {
      user,
      slot,
      expiresAt,
      pinnedConversationId: conversationId,
      initialAfterSeq,
      following: new Map(),
    };
  }

  /** An admitted connection is open: counted, told when its token expires, announced, and (pinned) following with replay. */
  async opened(client: RealtimeClient): Promise<void> {
    const { state } = client;
    this.hub.register(client);
    this.slots.hold(state.user.id, state.slot);
    if (state.expiresAt) {
      state.expiryTimer = setTimeout(
        () => {
          client.emit(ServerEvent.SessionExpired, { message: 'Bearer token has expired; reconnect with a new one' });
          client.disconnect('session-expired');
        },
        Math.max(0, state.expiresAt.getTime() - Date.now()),
      );
    }
    this.hub.presence(state.user.id, client.id, 'online');
    this.events.publish(DomainEvent.FeatureUsed, { userId: state.user.id, feature: 'realtime', at: new Date() });
    if (state.pinnedConversationId) {
      await this.follow(client, state.pinnedConversationId, state.initialAfterSeq);
    }
  }

  closed(client: RealtimeClient): void {
    const { state } = client;
    clearTimeout(state.expiryTimer);
    for (const typing of state.typing?.values() ?? []) clearTimeout(typing.autoStop);
    this.hub.unregister(client);
    this.slots.release(state.user.id, state.slot);
    this.hub.presence(state.user.id, client.id, 'offline');
  }

  /**
   * Runs a client event by name: an unknown event, or a payload nested too deep or holding a
   * prototype key, NUL or a lone surrogate, is answered with the 400 a REST body gets (and
   * counts against the event rate like any other).
   */
  dispatch(client: RealtimeClient, event: string, payload: unknown): Promise<Ack<Record<string, unknown>>> {
    const handler = Object.hasOwn(this.handlers, event) ? this.handlers[event] : undefined;
    if (!handler)
      return this.guarded(client, () =>
        Promise.reject(
          ackError(400, ErrorCode.VALIDATION_FAILED, `Unknown event; client events are ${Object.keys(this.handlers).join(', ')}`),
        ),
      );
    const untrusted = untrustedPayloadError(payload);
    if (untrusted)
      return this.guarded(client, () =>
        Promise.reject(ackError(untrusted.statusCode, untrusted.code, untrusted.message, untrusted.details)),
      );
    return handler(client, payload);
  }

  /** A connection admitted but gone before it opened: its slot is given back. */
  abandoned(state: ClientState): void {
    this.slots.release(state.user.id, state.slot);
  }

  private join(client: RealtimeClient, payload: unknown): Promise<Ack<{ conversationId: string; replayed: number }>> {
    return this.guarded(client, async () => {
      const { conversationId, since } = (payload ?? {}) as Partial<JoinPayload>;
      const id = requireConversationId(conversationId);
      await this.conversations.assertVisible(client.state.user.id, id);
      return { conversationId: id, replayed: await this.follow(client, id, since) };
    });
  }

  private leave(client: RealtimeClient, payload: unknown): Promise<Ack<{ conversationId: string }>> {
    return this.guarded(client, () => {
      const id = requireConversationId((payload as { conversationId?: unknown } | undefined)?.conversationId);
      if (client.state.pinnedConversationId === id)
        throw ackError(400, ErrorCode.VALIDATION_FAILED, 'This connection follows only this conversation; disconnect instead');
      client.state.following.delete(id);
      return Promise.resolve({ conversationId: id });
    });
  }

  private send(client: RealtimeClient, payload: unknown): Promise<Ack<Record<string, unknown>>> {
    return this.guarded(client, async () => {
      const { conversationId, ...body } = isObject(payload) ? payload : {};
      const id = requireConversationId(conversationId ?? client.state.pinnedConversationId);
      const dto = (await this.validation.transform(
        { stream: true, ...body },
        { type: 'body', metatype: SendMessageDto },
      )) as SendMessageDto;
      const turn = await this.chat.send(client.state.user.id, id, dto);
      return { userMessage: turn.userMessage, assistantMessage: turn.assistantMessage };
    });
  }

  private typingStart(client: RealtimeClient, payload: unknown): Promise<Ack> {
    return this.guarded(client, () => {
      const id = this.followed(client, payload);
      const { state } = client;
      const now = Date.now();
      const typing = (state.typing ??= new Map<string, { sentAt: number; autoStop: NodeJS.Timeout }>());
      const current = typing.get(id);
      let sentAt = current?.sentAt ?? 0;
      if (now - sentAt >= TYPING_THROTTLE_MS) {
        sentAt = now;
        this.hub.typing(state.user.id, id, 'user', 'start', client.id);
      }
      clearTimeout(current?.autoStop);
      typing.set(id, { sentAt, autoStop: setTimeout(() => this.stopTyping(client, id), TYPING_AUTO_STOP_MS) });
      return Promise.resolve({});
    });
  }

  private typingStop(client: RealtimeClient, payload: unknown): Promise<Ack> {
    return this.guarded(client, () => {
      this.stopTyping(client, this.followed(client, payload));
      return Promise.resolve({});
    });
  }

  private read(client: RealtimeClient, payload: unknown): Promise<Ack> {
    return this.guarded(client, async () => {
      const id = this.followed(client, payload);
      const messageId = (payload as { messageId?: unknown } | undefined)?.messageId;
      if (typeof messageId !== 'string' || !OBJECT_ID.test(messageId))
        throw ackError(400, ErrorCode.VALIDATION_FAILED, 'messageId must be a message id');
      await this.messages.getInConversation(client.state.user.id, id, messageId);
      this.hub.read(client.state.user.id, id, messageId, client.id);
      return {};
    });
  }

  /**
   * Runs a client event: the flood limit (WEBSOCKET_EVENTS_PER_MINUTE per connection), then the
   * work; every failure becomes an error ack, never a disconnect.
   */
  async guarded<T extends Record<string, unknown>>(client: RealtimeClient, work: () => Promise<T>): Promise<Ack<T>> {
    const verdict = this.rateLimiter.consume(`socket:${client.id}`, this.settings.eventsPerMinute);
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

  private verifiedCaller(admission: Admission): ReturnType<TokenVerifier['verify']> {
    try {
      if (admission.tokenInQuery) {
        throw new Error(`Tokens are not accepted in the query string; ${admission.tokenHint}`);
      }
      if (!admission.token) throw new Error(`Missing bearer token: ${admission.tokenHint}`);
      return this.tokens.verify(admission.token);
    } catch (error) {
      this.events.publish(DomainEvent.AuthenticationFailed, {
        ip: admission.ip,
        reason: (error as Error).message,
        method: 'GET',
        path: admission.path,
      });
      throw new RealtimeRefusal(401, ErrorCode.UNAUTHORIZED, (error as Error).message);
    }
  }

  /** Follows the conversation, then sends what the client missed since `since`, then live traffic. */
  private async follow(client: RealtimeClient, conversationId: string, since: unknown): Promise<number> {
    const { state } = client;
    const afterSeq = await this.sinceToSeq(state.user.id, conversationId, since);
    // Followed before the replay is read: live events from now on wait in the buffer.
    const follow: FollowState = { replayed: new Set(), replaying: true, buffered: [] };
    state.following.set(conversationId, follow);
    let replayed = 0;
    if (afterSeq !== null) {
      let missed: MessageDto[];
      try {
        missed = await this.messages.missedSince(state.user.id, conversationId, afterSeq, MAX_REPLAY);
      } catch (error) {
        // Not followed after all: live events must not pile up behind a replay that never came.
        if (state.following.get(conversationId) === follow) state.following.delete(conversationId);
        throw error;
      }
      for (const message of missed) {
        client.emit(ServerEvent.MessageCreated, { conversationId, message, replayed: true });
        follow.replayed!.add(message.id);
        replayed += 1;
      }
    }
    follow.replaying = false;
    for (const [event, payload] of follow.buffered.splice(0)) this.hub.deliverTo(client, conversationId, event, payload);
    if (replayed === 0) {
      follow.replayed = null;
    } else {
      // A message the replay read may still have its live event on the way (relayed from another
      // instance, or published just after its insert): told apart by id for a while, then forgotten.
      setTimeout(() => (follow.replayed = null), REPLAYED_IDS_KEPT_MS).unref();
    }
    return replayed;
  }

  private async sinceToSeq(ownerId: string, conversationId: string, since: unknown): Promise<number | null> {
    if (since === undefined || since === null) return null;
    if (typeof since === 'number' && Number.isInteger(since) && since >= 0) return since;
    if (typeof since === 'string' && OBJECT_ID.test(since))
      return (await this.messages.getInConversation(ownerId, conversationId, since)).seq;
    throw ackError(400, ErrorCode.VALIDATION_FAILED, 'since must be a seq number or a message id');
  }

  private stopTyping(client: RealtimeClient, conversationId: string): void {
    const { state } = client;
    const typing = state.typing?.get(conversationId);
    if (!typing) return;
    clearTimeout(typing.autoStop);
    state.typing!.delete(conversationId);
    this.hub.typing(state.user.id, conversationId, 'user', 'stop', client.id);
  }

  private followed(client: RealtimeClient, payload: unknown): string {
    const id = requireConversationId(
      (payload as { conversationId?: unknown } | undefined)?.conversationId ?? client.state.pinnedConversationId,
    );
    if (!client.state.following.has(id)) throw ackError(404, ErrorCode.CONVERSATION_NOT_FOUND, 'Join the conversation first');
    return id;
  }
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

export function ackError(statusCode: number, code: string, message: string, details?: unknown): AckFailure {
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
 * The problem of an event's payload that is nested too deep, holds a prototype key, NUL or a lone
 * surrogate, as the 400 a REST body with it gets (same check, same body); undefined when clean.
 */
function untrustedPayloadError(payload: unknown): AckError | undefined {
  const found = findJsonProblem(payload);
  return found ? ackErrorOf(jsonProblemException(found)) : undefined;
}

/** A refusal the client caused (not found, invalid): anything else is the store's trouble. */
function isClientError(error: unknown): boolean {
  return error instanceof AckFailure || (error instanceof HttpException && error.getStatus() < 500);
}

function unavailable(error: unknown, logger: Logger): RealtimeRefusal {
  logger.warn({ err: error }, 'Could not admit a realtime connection');
  return new RealtimeRefusal(503, ErrorCode.STORE_UNAVAILABLE, 'The store is not available; retry shortly');
}
