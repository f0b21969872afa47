/**
 * Every domain event the modules publish, with its payload type. Producers emit through
 * `EventEmitter2`, consumers subscribe with `@OnEvent(DomainEvent.X)`; nothing else couples them.
 */
export const DomainEvent = {
  ConversationCreated: 'conversation.created',
  ConversationUpdated: 'conversation.updated',
  MessageCreated: 'message.created',
  MessageDelta: 'message.delta',
  MessageCompleted: 'message.completed',
  MessageFailed: 'message.failed',
  MessageDeleted: 'message.deleted',
  AttachmentCreated: 'attachment.created',
  AttachmentProcessed: 'attachment.processed',
  AttachmentFailed: 'attachment.failed',
  AttachmentDeleted: 'attachment.deleted',
  AgentChanged: 'agent.changed',
  AuthenticationFailed: 'auth.failed',
  DataExportReady: 'data-export.ready',
  FeatureUsed: 'feature.used',
} as const;

export interface ConversationEventPayload {
  userId: string;
  conversationId: string;
  status: string;
  /** The conversation as the REST API returns it, when the producer has it. */
  conversation?: unknown;
}

export interface MessageCreatedPayload {
  userId: string;
  conversationId: string;
  messageId: string;
  seq: number;
  type: string;
  /** The stored message, as the REST API returns it. */
  message: unknown;
}

export interface MessageDeltaPayload {
  userId: string;
  conversationId: string;
  messageId: string;
  /** 0, 1, 2, ... per reply attempt, so a client can detect a gap. */
  index: number;
  text: string;
}

export interface MessageFinishedPayload {
  userId: string;
  conversationId: string;
  messageId: string;
  /** The stored message, as the REST API returns it. */
  message: unknown;
}

export interface MessageDeletedPayload {
  userId: string;
  conversationId: string;
  messageId: string;
}

export interface AttachmentEventPayload {
  userId: string;
  conversationId: string;
  messageId: string;
  attachmentId: string;
  /** The attachment as the REST API returns it. */
  attachment: unknown;
}

export interface AgentChangedPayload {
  /** The admin who made the change. */
  actorId: string;
  actorRoles: string[];
  agentKey: string;
  action: 'created' | 'updated' | 'deleted';
  /** The agent's version after the change (none after a delete). */
  version: number | null;
  /** The fields an update changed (names only, never their values). */
  fields?: string[];
}

export interface AuthenticationFailedPayload {
  /** The client's address as the server saw it. */
  ip: string;
  /** Why: missing, expired, bad signature, ... (never the token itself). */
  reason: string;
  method: string;
  path: string;
}

export interface DataExportReadyPayload {
  /** Who asked for the export: the one notified. */
  userId: string;
  exportId: string;
  /** Whose data it holds. */
  subjectUserId: string;
  expiresAt: string;
}

/** A use of a feature that leaves no other trace in the store (analytics: search and export use, feature adoption). */
export interface FeatureUsedPayload {
  userId: string;
  feature: 'search' | 'export' | 'realtime';
  at: Date;
}

export interface DomainEventMap {
  [DomainEvent.ConversationCreated]: ConversationEventPayload;
  [DomainEvent.ConversationUpdated]: ConversationEventPayload;
  [DomainEvent.MessageCreated]: MessageCreatedPayload;
  [DomainEvent.MessageDelta]: MessageDeltaPayload;
  [DomainEvent.MessageCompleted]: MessageFinishedPayload;
  [DomainEvent.MessageFailed]: MessageFinishedPayload;
  [DomainEvent.MessageDeleted]: MessageDeletedPayload;
  [DomainEvent.AttachmentCreated]: AttachmentEventPayload;
  [DomainEvent.AttachmentProcessed]: AttachmentEventPayload;
  [DomainEvent.AttachmentFailed]: AttachmentEventPayload;
  [DomainEvent.AttachmentDeleted]: AttachmentEventPayload;
  [DomainEvent.AgentChanged]: AgentChangedPayload;
  [DomainEvent.AuthenticationFailed]: AuthenticationFailedPayload;
  [DomainEvent.DataExportReady]: DataExportReadyPayload;
  [DomainEvent.FeatureUsed]: FeatureUsedPayload;
}
