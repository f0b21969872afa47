import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import type { AppConfig } from '../common/config/app-config.js';
import { reasonPhrase } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { clientAddress } from '../common/http/client-address.js';
import type { ClientState, CloseReason, RealtimeClient } from './realtime-client.js';
import { type Admission, RealtimeRefusal, RealtimeSessions, ackError } from './realtime-sessions.js';
import {
  BEARER_SUBPROTOCOL_PREFIX,
  MAX_PAYLOAD_BYTES,
  PLAIN_AUTH_TIMEOUT_MS,
  PLAIN_SUBPROTOCOL,
  PLAIN_WEBSOCKET_PATH,
  PlainCloseCode,
  PlainFrame,
  type ServerToClientEvents,
} from './realtime.events.js';

/** What may wait unread in a connection's send buffer before the client is closed as not reading. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Frames a client may send after its auth frame, before it is admitted; they are taken once it is. */
const MAX_EARLY_FRAMES = 32;
const MAX_FRAME_ID_LENGTH = 64;
/** After a close frame, how long a peer has to answer before its connection is cut. */
const CLOSE_GRACE_MS = 1000;
const TOKEN_HINT = `send an Authorization header, a ${BEARER_SUBPROTOCOL_PREFIX}<token> subprotocol or an auth frame`;

type FrameId = string | number;

/** A plain WebSocket once admitted, as the hub and the sessions see a connection. */
class PlainWebSocketClient implements RealtimeClient {
  readonly id = randomBytes(12).toString('base64url');

  constructor(
    private readonly socket: WebSocket,
    readonly state: ClientState,
    /** Closes the connection with a code and a reason. */
    private readonly close: (code: number, reason: string) => void,
  ) {}

  emit(event: keyof ServerToClientEvents, payload: unknown): void {
    this.send({ event, data: payload });
  }

  send(frame: { event: string; id?: FrameId; data: unknown }): void {
    if (this.socket.readyState !== WebSocket.OPEN) return;
    // A replay may send much at once; past it, what waits unsent is what the client did not read.
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES && !this.replaying()) {
      this.close(PlainCloseCode.SlowConsumer, 'Too much unread data waiting; reconnect with since to catch up');
      return;
    }
    this.socket.send(JSON.stringify(frame));
  }

  private replaying(): boolean {
    for (const follow of this.state.following.values()) if (follow.replaying) return true;
    return false;
  }

  disconnect(reason: CloseReason): void {
    if (reason === 'session-expired') this.close(PlainCloseCode.refused(401), 'Bearer token has expired');
    else this.close(PlainCloseCode.UserDataErased, 'The user’s data is being erased');
  }
}

/** One WebSocket from its upgrade on: waiting for its auth frame, being admitted, opening, open, ended. */
interface Connection {
  socket: WebSocket;
  /** Answered the last heartbeat ping (or has not been pinged yet). */
  alive: boolean;
  /** Its handshake had no token: the first frame must be an auth frame, admitted with this. */
  awaitingAuth?: Admission;
  authTimer?: NodeJS.Timeout;
  client?: PlainWebSocketClient;
  /** The sessions were told it opened: its end must tell them too. */
  known: boolean;
  /** Opened (replay sent): its frames are handled as they come. */
  open: boolean;
  /** Closing or closed: for the sessions, gone. */
  ended: boolean;
  /** Frames that came before it was open. */
  early: RawData[];
}

/**
 * The plain WebSocket at `/ws/chat/<conversationId>` (and `/ws/chat`) on the app's HTTP port, for
 * clients that do not speak Socket.IO: JSON text frames carrying the Socket.IO protocol's events,
 * with the same authentication (an Authorization header, a `bearer.<token>` subprotocol, or an
 * `auth` frame within PLAIN_AUTH_TIMEOUT_MS; never the URL), rules, limits and delivery, because
 * both go through RealtimeSessions and RealtimeHub. Heartbeats: a ping every
 * WEBSOCKET_HEARTBEAT_INTERVAL seconds; a peer that has not answered the previous one is dropped.
 */
@Injectable()
export class PlainWebSocketServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Realtime');
  private readonly settings: AppConfig['websockets'];
  private readonly corsOrigins: string[];
  private readonly connections = new Set<Connection>();
  private readonly server = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PAYLOAD_BYTES,
    // Only ours is chosen; `bearer.<token>` carries the token and is never echoed.
    handleProtocols: (protocols) => (protocols.has(PLAIN_SUBPROTOCOL) ? PLAIN_SUBPROTOCOL : false),
  });
  private heartbeat?: NodeJS.Timeout;

  constructor(
    private readonly sessions: RealtimeSessions,
    private readonly adapterHost: HttpAdapterHost,
    config: ConfigService<AppConfig, true>,
  ) {
    this.settings = config.get('websockets', { infer: true });
    this.corsOrigins = config.get('http', { infer: true }).corsOrigins;
  }

  /**
   * Claims its paths on the HTTP server ahead of Socket.IO, which is attached by now and would
   * answer everything under `/ws/` (400: not a Socket.IO request).
   */
  onApplicationBootstrap(): void {
    // An application context without HTTP (the command-line tools) serves no sockets.
    const http = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (!http) return;
    claimFirst(http, 'upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = pathOf(request);
      if (!PLAIN_WEBSOCKET_PATH.test(path)) return false;
      void this.upgrade(request, socket, head, PLAIN_WEBSOCKET_PATH.exec(path)![1]);
      return true;
    });
    claimFirst(http, 'request', (request: IncomingMessage, response: ServerResponse) => {
      if (!PLAIN_WEBSOCKET_PATH.test(pathOf(request))) return false;
      const body = errorBody(
        426,
        ErrorCode.UPGRADE_REQUIRED,
        `This is a WebSocket endpoint: connect with a WebSocket client (${PLAIN_SUBPROTOCOL})`,
      );
      response.writeHead(426, { 'content-type': 'application/json; charset=utf-8', upgrade: 'websocket', connection: 'Upgrade' });
      response.end(body);
      return true;
    });
    this.heartbeat = setInterval(() => this.sweep(), this.settings.heartbeatIntervalSeconds * 1000);
    this.heartbeat.unref();
  }

  beforeApplicationShutdown(): void {
    clearInterval(this.heartbeat);
    for (const connection of this.connections) this.end(connection, 1001, 'Server shutting down');
    this.server.close();
  }

  private async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, conversationId: string | undefined): Promise<void> {
    socket.on('error', () => socket.destroy());
    const origin = request.headers.origin;
    // Non-browser clients send no Origin; browsers must come from an allowed site when a list is set.
    if (origin !== undefined && this.corsOrigins.length > 0 && !this.corsOrigins.includes(origin)) {
      refuseUpgrade(socket, 403, ErrorCode.FORBIDDEN, 'Origin not allowed');
      return;
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    const admission: Admission = {
      token: bearerOf(request),
      tokenInQuery: url.searchParams.has('token') || url.searchParams.has('access_token'),
      tokenHint: TOKEN_HINT,
      ip: clientAddress(request),
      path: url.pathname,
      conversationId,
      since: sinceOf(url.searchParams.get('since')),
    };
    if (admission.token === undefined && !admission.tokenInQuery) {
      // No token in the handshake (a browser cannot set headers): the first frame must bring it.
      this.server.handleUpgrade(request, socket, head, (ws) => this.track(ws, admission));
      return;
    }
    let state: ClientState;
    try {
      state = await this.sessions.admit(admission);
    } catch (error) {
      const refusal = asRefusal(error, this.logger);
      refuseUpgrade(socket, refusal.statusCode, refusal.code, refusal.message);
      return;
    }
    if (socket.destroyed) {
      this.sessions.abandoned(state);
      return;
    }
    // A handshake `ws` refuses (bad key or version) ends the socket without calling back: the slot goes back then.
    let upgraded = false;
    socket.once('close', () => {
      if (!upgraded) this.sessions.abandoned(state);
    });
    this.server.handleUpgrade(request, socket, head, (ws) => {
      upgraded = true;
      void this.accept(this.track(ws), state);
    });
  }

  private track(socket: WebSocket, awaitingAuth?: Admission): Connection {
    const connection: Connection = { socket, alive: true, awaitingAuth, known: false, open: false, ended: false, early: [] };
    this.connections.add(connection);
    if (awaitingAuth) {
      connection.authTimer = setTimeout(
        () => this.end(connection, PlainCloseCode.AuthTimeout, `No auth frame within ${PLAIN_AUTH_TIMEOUT_MS / 1000} s`),
        PLAIN_AUTH_TIMEOUT_MS,
      );
    }
    socket.on('pong', () => (connection.alive = true));
    socket.on('error', (error) => this.logger.debug({ err: error }, 'Plain WebSocket error'));
    socket.on('close', () => this.end(connection));
    socket.on('message', (data, isBinary) => {
      const frame = isBinary ? Buffer.alloc(0) : data;
      if (connection.ended) return;
      if (connection.open) {
        void this.onFrame(connection.client!, frame);
      } else if (connection.awaitingAuth) {
        clearTimeout(connection.authTimer);
        this.authenticate(connection, connection.awaitingAuth, frame);
        connection.awaitingAuth = undefined;
      } else if (connection.early.length < MAX_EARLY_FRAMES) {
        connection.early.push(frame);
      } else {
        this.end(connection, 1008, 'Too many frames before being admitted; wait for the ready frame');
      }
    });
    return connection;
  }

  /**
   * Ends a connection for the sessions at once (unregistered, typing stopped, presence offline),
   * closing it with `code` when the server ends it; the closing handshake finishes on its own.
   */
  private end(connection: Connection, code?: number, reason = ''): void {
    if (code !== undefined) closeWith(connection.socket, code, reason);
    if (connection.ended) return;
    connection.ended = true;
    clearTimeout(connection.authTimer);
    this.connections.delete(connection);
    if (connection.known) this.sessions.closed(connection.client!);
  }

  /** The first frame of a connection whose handshake had no token: `{ event: 'auth', data: { token, since? } }`. */
  private authenticate(connection: Connection, admission: Admission, raw: RawData): void {
    const frame = parseJson(raw);
    const auth = isObject(frame) && frame.event === PlainFrame.Auth && isObject(frame.data) ? frame.data : undefined;
    if (!auth || typeof auth.token !== 'string') {
      this.refuseOpen(connection, 401, ErrorCode.UNAUTHORIZED, `Missing bearer token: ${TOKEN_HINT}`);
      return;
    }
    this.sessions.admit({ ...admission, token: auth.token, since: auth.since ?? admission.since }).then(
      (state) => this.accept(connection, state),
      (error: unknown) => {
        const refusal = asRefusal(error, this.logger);
        this.refuseOpen(connection, refusal.statusCode, refusal.code, refusal.message);
      },
    );
  }

  /** Tells the client why in an error frame, then closes with 4000 + the status. */
  private refuseOpen(connection: Connection, statusCode: number, code: string, message: string): void {
    if (connection.socket.readyState === WebSocket.OPEN)
      connection.socket.send(JSON.stringify({ event: PlainFrame.Error, data: { statusCode, code, message } }));
    this.end(connection, PlainCloseCode.refused(statusCode), message);
  }

  /** Admitted: `ready`, then what the sessions send on opening (the replay), then the frames that waited. */
  private async accept(connection: Connection, state: ClientState): Promise<void> {
    if (connection.ended) {
      this.sessions.abandoned(state);
      return;
    }
    const client = new PlainWebSocketClient(connection.socket, state, (code, reason) => this.end(connection, code, reason));
    connection.client = client;
    client.send({
      event: PlainFrame.Ready,
      data: {
        connectionId: client.id,
        conversationId: state.pinnedConversationId ?? null,
        heartbeatIntervalSeconds: this.settings.heartbeatIntervalSeconds,
      },
    });
    connection.known = true;
    try {
      await this.sessions.opened(client);
    } catch (error) {
      this.logger.error({ err: error }, 'Opening a plain WebSocket failed');
      this.end(connection, 1011, 'Could not start following the conversation; reconnect with since');
      return;
    }
    if (connection.ended) return;
    connection.open = true;
    for (const data of connection.early.splice(0)) void this.onFrame(client, data);
  }

  /** One client frame `{ event, data, id? }`: handled as Socket.IO handles the event, answered with an ack frame when it has an id. */
  private async onFrame(client: PlainWebSocketClient, raw: RawData): Promise<void> {
    const frame = parseJson(raw);
    const id = isObject(frame) ? frameIdOf(frame.id) : undefined;
    const problem = frameProblem(frame);
    const ack = problem
      ? await this.sessions.guarded(client, () => Promise.reject(ackError(400, ErrorCode.VALIDATION_FAILED, problem)))
      : await this.sessions.dispatch(client, (frame as { event: string }).event, (frame as { data?: unknown }).data);
    if (id !== undefined) client.send({ event: PlainFrame.Ack, id, data: ack });
    else if (!ack.ok) client.send({ event: PlainFrame.Error, data: ack.error });
  }

  /** Drops peers that did not answer the last ping, pings the others. */
  private sweep(): void {
    for (const connection of this.connections) {
      if (!connection.alive) {
        connection.socket.terminate();
        continue;
      }
      connection.alive = false;
      connection.socket.ping();
    }
  }
}

/** Puts `claim` ahead of the server's listeners for `event`: what it claims is its own, the rest goes on to them. */
function claimFirst<A extends unknown[]>(server: Server, event: 'request' | 'upgrade', claim: (...args: A) => boolean): void {
  const others = server.listeners(event) as ((...args: A) => void)[];
  server.removeAllListeners(event);
  server.on(event, (...args: A) => {
    if (claim(...args)) return;
    for (const listener of others) listener.apply(server, args);
  });
}

function pathOf(request: IncomingMessage): string {
  return (request.url ?? '').split('?')[0] ?? '';
}

function bearerOf(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7);
  const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((protocol) => protocol.trim());
  return offered.find((protocol) => protocol.startsWith(BEARER_SUBPROTOCOL_PREFIX))?.slice(BEARER_SUBPROTOCOL_PREFIX.length);
}

/** `since` in the URL: a seq number, else taken as a message id (checked when admitted). */
function sinceOf(value: string | null): number | string | undefined {
  if (value === null) return undefined;
  return /^\d{1,15}$/.test(value) ? Number(value) : value;
}

function asRefusal(error: unknown, logger: Logger): RealtimeRefusal {
  if (error instanceof RealtimeRefusal) return error;
  logger.error({ err: error }, 'Admitting a plain WebSocket failed');
  return new RealtimeRefusal(503, ErrorCode.SERVICE_UNAVAILABLE, 'Could not admit the connection now; retry');
}

function errorBody(statusCode: number, code: string, message: string): string {
  return JSON.stringify({ statusCode, error: reasonPhrase(statusCode), code, message });
}

/** Answers an upgrade request with an HTTP error and the API's error body, and closes it. */
function refuseUpgrade(socket: Duplex, statusCode: number, code: string, message: string): void {
  if (socket.destroyed) return;
  const body = errorBody(statusCode, code, message);
  socket.end(
    `HTTP/1.1 ${statusCode} ${reasonPhrase(statusCode)}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/** Closes with a code and a reason cut to the 123 bytes a close frame allows; a peer that does not answer is cut off. */
function closeWith(socket: WebSocket, code: number, reason: string): void {
  if (socket.readyState === WebSocket.CLOSED) return;
  let cut = reason;
  while (Buffer.byteLength(cut) > 123) cut = cut.slice(0, -1);
  socket.close(code, cut);
  setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
}

function parseJson(raw: RawData): unknown {
  try {
    return JSON.parse((Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw as Buffer)).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function frameIdOf(value: unknown): FrameId | undefined {
  if (typeof value === 'string' && value.length > 0 && value.length <= MAX_FRAME_ID_LENGTH) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  return undefined;
}

function frameProblem(frame: unknown): string | undefined {
  if (!isObject(frame)) return 'A frame is a JSON object { event, data, id? } sent as text';
  if (frame.id !== undefined && frameIdOf(frame.id) === undefined)
    return `id must be a string of 1 to ${MAX_FRAME_ID_LENGTH} characters or an integer`;
  if (typeof frame.event !== 'string') return 'event must be the name of a client event';
  if (frame.event === PlainFrame.Auth) return 'Already authenticated';
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
