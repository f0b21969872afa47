import { Logger } from '@nestjs/common';
import { OnGatewayConnection, OnGatewayDisconnect, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { clientAddress } from '../common/http/client-address.js';
import type { ClientState, RealtimeClient } from './realtime-client.js';
import { RealtimeSessions } from './realtime-sessions.js';
import { Ack, NAMESPACE_PATTERN, ServerEvent } from './realtime.events.js';
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
 * takes messages, typing and read receipts (ClientEvent), every event through one listener; the
 * rules themselves are RealtimeSessions', shared with the plain WebSocket at `/ws/chat/<id>`.
 */
@WebSocketGateway({ namespace: NAMESPACE_PATTERN })
export class RealtimeGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger('Realtime');
  /** One listener for every socket's events (`this` is the socket), so an idle socket holds no closures of its own. */
  private readonly onClientEvent: (this: Socket, event: string, ...args: unknown[]) => void;

  constructor(
    private readonly sessions: RealtimeSessions,
    private readonly hub: RealtimeHub,
  ) {
    this.onClientEvent = clientEventListener(sessions);
  }

  afterInit(server: Namespace): void {
    this.hub.attach(server);
    server.use((socket, next) => {
      this.admit(socket).then(
        (state) => {
          // Closed while it was admitted: Socket.IO drops it without a disconnect, so its slot goes back here.
          if (socket.conn.readyState !== 'open') {
            this.sessions.abandoned(state);
            next(new Error('Closed'));
            return;
          }
          socket.data = new SocketIoClient(socket, state);
          socket.onAny(this.onClientEvent);
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

  /** Nest does not wait for this: a failure (the store away during the replay) is logged and the socket closed, never thrown. */
  async handleConnection(socket: Socket): Promise<void> {
    try {
      await this.sessions.opened(clientOf(socket));
    } catch (error) {
      this.logger.error({ err: error }, 'Opening a Socket.IO connection failed');
      socket.disconnect(true);
    }
  }

  handleDisconnect(socket: Socket): void {
    // A socket refused in the handshake never had a client.
    if (socket.data instanceof SocketIoClient) this.sessions.closed(socket.data);
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
 * Takes a client event (`this` is its socket): RealtimeSessions runs it, its answer goes to the
 * client's acknowledgement callback when it sent one.
 */
function clientEventListener(sessions: RealtimeSessions): (this: Socket, event: string, ...args: unknown[]) => void {
  return function (this: Socket, event, ...args) {
    const ack = typeof args.at(-1) === 'function' ? (args.pop() as (reply: Ack) => void) : undefined;
    void sessions.dispatch(clientOf(this), event, args[0]).then((reply) => ack?.(reply));
  };
}
