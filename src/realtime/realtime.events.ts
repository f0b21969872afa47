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
