import {
  ConnectedSocket,
  MessageBody,
  OnGatewayConnection,
  OnGatewayDisconnect,
  OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { clientAddress } from '../common/http/client-address.js';
import type { ClientState, RealtimeClient } from './realtime-client.js';
import { RealtimeSessions, untrustedPayloadError } from './realtime-sessions.js';
import { Ack, ClientEvent, NAMESPACE_PATTERN, ServerEvent } from './realtime.events.js';
import { RealtimeHub } from './realtime.hub.js';

/** A Socket.IO socket as the hub and the sessions see a connection; kept in `socket.data`. */
class SocketIoClient implements RealtimeClient {
  constructor(
    private readonly socket: Socket,
    readonly state: ClientState,
  ) {}

  get id(): string {
    return this.socket.id;
  }

  emit(event: (typeof ServerEvent)[keyof typeof ServerEvent], payload: unknown): void {
    this.socket.emit(event, payload);
  }

  disconnect(): void {
    this.socket.disconnect(true);
  }
}

/**
 * The Socket.IO gateway (`/ws`). Authenticates in the handshake with the same token rules as
 * HTTP, lets a client follow conversations (`/chat/<id>`, or `/chat` plus conversation:join), and
 * takes messages, typing and read receipts; the rules themselves are RealtimeSessions', shared
 * with the plain WebSocket at `/ws/chat/<id>`.
 */
@WebSocketGateway({ namespace: NAMESPACE_PATTERN })
export class RealtimeGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  constructor(
    private readonly sessions: RealtimeSessions,
    private readonly hub: RealtimeHub,
  ) {}

  afterInit(server: Namespace): void {
    this.hub.attach(server);
    server.use((socket, next) => {
      this.admit(socket).then(
        (state) => {
          socket.data = new SocketIoClient(socket, state);
          socket.use(refuseUntrustedPayloads);
          next();
        },
        (error: Error) => next(new Error(error.message)),
      );
    });
    // The default namespace serves nothing: it asks for a token like the others, then refuses.
    server.server.of('/').use((socket, next) => {
      this.admit(socket).then(
        (state) => {
          this.sessions.abandoned(state);
          next(new Error('No such namespace: connect to /chat or /chat/<conversationId>'));
        },
        (error: Error) => next(new Error(error.message)),
      );
    });
  }

  async handleConnection(socket: Socket): Promise<void> {
    await this.sessions.opened(clientOf(socket));
  }

  handleDisconnect(socket: Socket): void {
    // A socket refused in the handshake never had a client.
    if (socket.data instanceof SocketIoClient) this.sessions.closed(socket.data);
  }

  @SubscribeMessage(ClientEvent.Join)
  join(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack<{ conversationId: string; replayed: number }>> {
    return this.sessions.join(clientOf(socket), payload);
  }

  @SubscribeMessage(ClientEvent.Leave)
  leave(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack<{ conversationId: string }>> {
    return this.sessions.leave(clientOf(socket), payload);
  }

  @SubscribeMessage(ClientEvent.Send)
  send(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack<Record<string, unknown>>> {
    return this.sessions.send(clientOf(socket), payload);
  }

  @SubscribeMessage(ClientEvent.TypingStart)
  typingStart(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack> {
    return this.sessions.typingStart(clientOf(socket), payload);
  }

  @SubscribeMessage(ClientEvent.TypingStop)
  typingStop(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack> {
    return this.sessions.typingStop(clientOf(socket), payload);
  }

  @SubscribeMessage(ClientEvent.Read)
  read(@ConnectedSocket() socket: Socket, @MessageBody() payload: unknown): Promise<Ack> {
    return this.sessions.read(clientOf(socket), payload);
  }

  /** The handshake's token (auth.token or an Authorization header, never the query string), conversation and since. */
  private admit(socket: Socket): Promise<ClientState> {
    const query = socket.handshake.query as Record<string, unknown>;
    const header = socket.handshake.headers.authorization;
    const auth = (socket.handshake.auth ?? {}) as { token?: unknown; since?: unknown };
    return this.sessions.admit({
      token:
        typeof auth.token === 'string'
          ? auth.token
          : typeof header === 'string' && header.startsWith('Bearer ')
            ? header.slice(7)
            : undefined,
      tokenInQuery: query.token !== undefined || query.access_token !== undefined,
      tokenHint: 'send auth.token or an Authorization header',
      ip: clientAddress(socket.request),
      // The path only: the query string may carry a token.
      path: (socket.handshake.url ?? '').split('?')[0] ?? '',
      conversationId: /^\/chat\/([0-9a-f]{24})$/.exec(socket.nsp.name)?.[1],
      since: auth.since,
    });
  }
}

function clientOf(socket: Socket): SocketIoClient {
  return socket.data as SocketIoClient;
}

/**
 * Socket middleware run on every incoming event before its handler: a payload that is nested too
 * deep, holds a prototype key, NUL or a lone surrogate is answered with the 400 a REST body gets
 * (same check, same body) and goes no further.
 */
function refuseUntrustedPayloads(packet: unknown[], next: (error?: Error) => void): void {
  const ack = typeof packet.at(-1) === 'function' ? (packet.at(-1) as (reply: Ack) => void) : undefined;
  for (const argument of packet.slice(1, ack ? -1 : undefined)) {
    const error = untrustedPayloadError(argument);
    if (error) {
      ack?.({ ok: false, error });
      return;
    }
  }
  next();
}
