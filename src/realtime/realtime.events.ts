/**
 * The realtime protocol, in one place: every event name and its payload type. Documented for
 * clients in README.md (Realtime). Server-to-client events carry REST shapes (MessageDto,
 * ConversationDto) so clients parse one model.
 */
import type { AttachmentDto } from '../attachments/dto/attachment.dto.js';
import type { ConversationDto } from '../conversations/dto/conversation.dto.js';
import type { MessageDto } from '../messages/dto/message.dto.js';

export const SOCKET_PATH = '/ws';
/** `/chat` follows any of the user's conversations by joining them; `/chat/<conversationId>` follows one. */
export const NAMESPACE_PATTERN = /^\/chat(\/[0-9a-f]{24})?$/;
/** The largest event a client may send, on either protocol; a message of CHAT_MAX_MESSAGE_LENGTH fits with room to spare. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

/**
 * The plain WebSocket, for clients that do not speak Socket.IO: `/ws/chat/<conversationId>`
 * (or `/ws/chat`, joining conversations as on Socket.IO's `/chat`), JSON text frames
 * `{ event, data, id? }` carrying the same events as Socket.IO. README.md (Realtime) documents it.
 */
export const PLAIN_WEBSOCKET_PATH = /^\/ws\/chat(?:\/([^/]+))?\/?$/;
/** The subprotocol a client may ask for; offered with `bearer.<token>`, it carries the token without putting it in the URL. */
export const PLAIN_SUBPROTOCOL = 'wms-chat.v1';
export const BEARER_SUBPROTOCOL_PREFIX = 'bearer.';
/** A connection that brings no token in its handshake must send an `auth` frame within this time. */
export const PLAIN_AUTH_TIMEOUT_MS = 5000;

/** Frames of the plain WebSocket that Socket.IO carries in its own protocol. */
export const PlainFrame = {
  /** Client to server, first frame when the handshake carried no token: `{ token, since? }`. */
  Auth: 'auth',
  /** Server to client, once admitted, before any replay: `{ connectionId, conversationId?, heartbeatIntervalSeconds }`. */
  Ready: 'ready',
  /** Server to client, the answer to a frame that had an `id`: the same Ack as Socket.IO's acknowledgement. */
  Ack: 'ack',
  /** Server to client, a frame without an `id` that could not be taken: an AckError. */
  Error: 'error',
} as const;

/** Close codes of the plain WebSocket, beside the standard ones (1001 going away, 1007 not UTF-8, 1009 too big). */
export const PlainCloseCode = {
  /** 4000 + the HTTP status of a refused `auth` frame: 4400 bad since, 4401 bad or expired token, 4404 conversation not found, 4429 too many connections. */
  refused: (statusCode: number) => 4000 + statusCode,
  AuthTimeout: 4408,
  /** The user's data is being erased or anonymised. */
  UserDataErased: 4403,
  /** The client did not read what it was sent (more than the send buffer limit waiting). */
  SlowConsumer: 4413,
} as const;

export const ServerEvent = {
  MessageCreated: 'message:created',
  MessageDelta: 'message:delta',
  MessageCompleted: 'message:completed',
  MessageFailed: 'message:failed',
  MessageDeleted: 'message:deleted',
  AttachmentCreated: 'attachment:created',
  AttachmentProcessed: 'attachment:processed',
  AttachmentFailed: 'attachment:failed',
  AttachmentDeleted: 'attachment:deleted',
  ConversationUpdated: 'conversation:updated',
  Typing: 'typing',
  MessageRead: 'message:read',
  Presence: 'presence',
  Notification: 'notification',
  SessionExpired: 'session:expired',
  /** A data export asked for by the user (of their own data, or an admin's of someone's) is ready to download. */
  DataExportReady: 'data-export.ready',
} as const;

export const ClientEvent = {
  Join: 'conversation:join',
  Leave: 'conversation:leave',
  Send: 'message:send',
  TypingStart: 'typing:start',
  TypingStop: 'typing:stop',
  Read: 'message:read',
} as const;

export interface ServerToClientEvents {
  [ServerEvent.MessageCreated]: (payload: { conversationId: string; message: MessageDto; replayed?: boolean }) => void;
  [ServerEvent.MessageDelta]: (payload: { conversationId: string; messageId: string; index: number; text: string }) => void;
  [ServerEvent.MessageCompleted]: (payload: { conversationId: string; message: MessageDto }) => void;
  [ServerEvent.MessageFailed]: (payload: { conversationId: string; message: MessageDto }) => void;
  [ServerEvent.MessageDeleted]: (payload: { conversationId: string; messageId: string }) => void;
  [ServerEvent.AttachmentCreated]: (payload: AttachmentEvent) => void;
  [ServerEvent.AttachmentProcessed]: (payload: AttachmentEvent) => void;
  [ServerEvent.AttachmentFailed]: (payload: AttachmentEvent) => void;
  [ServerEvent.AttachmentDeleted]: (payload: AttachmentEvent) => void;
  [ServerEvent.ConversationUpdated]: (payload: { conversationId: string; conversation: ConversationDto }) => void;
  [ServerEvent.Typing]: (payload: { conversationId: string; actor: 'user' | 'assistant'; state: 'start' | 'stop' }) => void;
  [ServerEvent.MessageRead]: (payload: { conversationId: string; messageId: string; at: string }) => void;
  [ServerEvent.Presence]: (payload: { socketId: string; state: 'online' | 'offline' }) => void;
  [ServerEvent.Notification]: (payload: { type: 'reply.completed'; conversationId: string; messageId: string }) => void;
  [ServerEvent.SessionExpired]: (payload: { message: string }) => void;
  [ServerEvent.DataExportReady]: (payload: DataExportReadyEvent) => void;
}

export interface DataExportReadyEvent {
  exportId: string;
  /** Whose data the export holds: the user themselves, or the subject of an admin's export. */
  subjectUserId: string;
  /** ISO time after which the download is gone. */
  expiresAt: string;
}

export interface AttachmentEvent {
  conversationId: string;
  messageId: string;
  attachment: AttachmentDto;
}

/** Every acknowledgement is one of these. */
export type Ack<T = Record<string, unknown>> = ({ ok: true } & T) | { ok: false; error: AckError };

export interface AckError {
  statusCode: number;
  code: string;
  message: string;
  details?: unknown;
}

export interface JoinPayload {
  conversationId: string;
  /** The last `seq` (number) or message id (string) the client saw: missed messages are sent first. */
  since?: number | string;
}
