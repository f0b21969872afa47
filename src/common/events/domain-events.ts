/**
 * Every domain event the modules publish, with its payload type. Producers emit through
 * `EventEmitter2`, consumers subscribe with `@OnEvent(DomainEvent.X)`; nothing else couples them.
 */
export const DomainEvent = {
  ConversationCreated: 'conversation.created',
  ConversationUpdated: 'conversation.updated',
  MessageCreated: 'message.created',
} as const;

export interface ConversationEventPayload {
  userId: string;
  conversationId: string;
  status: string;
}

export interface MessageCreatedPayload {
  userId: string;
  conversationId: string;
  messageId: string;
  seq: number;
  type: string;
}

export interface DomainEventMap {
  [DomainEvent.ConversationCreated]: ConversationEventPayload;
  [DomainEvent.ConversationUpdated]: ConversationEventPayload;
  [DomainEvent.MessageCreated]: MessageCreatedPayload;
}
