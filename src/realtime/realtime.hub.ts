import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { OnEvent } from '@nestjs/event-emitter';
import type { Histogram } from 'prom-client';
import type { Namespace } from 'socket.io';
import type { AppConfig } from '../common/config/app-config.js';
import {
  DomainEvent,
  type ConversationEventPayload,
  type MessageCreatedPayload,
  type MessageDeltaPayload,
  type MessageFinishedPayload,
  type MessageDeletedPayload,
  type AttachmentEventPayload,
  type DataExportReadyPayload,
} from '../common/events/domain-events.js';
import type { AttachmentDto } from '../attachments/dto/attachment.dto.js';
import type { MessageDto } from '../messages/dto/message.dto.js';
import { AppMetrics } from '../metrics/app-metrics.js';
import { PreferencesService } from '../preferences/preferences.service.js';
import type { RealtimeClient } from './realtime-client.js';
import { ServerEvent, type ServerToClientEvents } from './realtime.events.js';

/** One delivery, as it travels between instances. */
interface Envelope {
  userId: string;
  /** Conversation events go to the sockets following it; user events to all the user's sockets. */
  conversationId?: string;
  event: keyof ServerToClientEvents;
  payload: unknown;
  /** The connection that caused it (typing, read): it does not get its own event back. */
  exceptSocketId?: string;
  /** Only to the user's sockets that do not follow conversationId (notifications). */
  onlyNotFollowing?: boolean;
  /** When the instance that dispatched it did (ms since the epoch), for the delivery latency. */
  sentAt?: number;
}

type AttachmentServerEvent =
  | typeof ServerEvent.AttachmentCreated
  | typeof ServerEvent.AttachmentProcessed
  | typeof ServerEvent.AttachmentFailed
  | typeof ServerEvent.AttachmentDeleted;

const RELAY_NAMESPACE = '/_relay';
const RELAY_EVENT = 'relay';
/** Between instances: close every socket of the user id it carries. */
const RELAY_DISCONNECT_USER = 'disconnect-user';

/**
 * Turns domain events into realtime events. Each instance delivers to its own connections (Socket.IO
 * and plain WebSocket alike); with Redis, every delivery is also handed to the other instances
 * through the Socket.IO Redis adapter (serverSideEmit), which deliver it to theirs. Per-connection
 * state makes replay and live traffic meet without duplicates or gaps.
 */
@Injectable()
export class RealtimeHub {
  private readonly logger = new Logger('Realtime');
  private relay?: Namespace;
  /**
   * This instance's connections by user, of both protocols. Tracked here rather than read from
   * Socket.IO namespaces: empty per-conversation namespaces are removed, a socket still in its
   * handshake can end up in a namespace that was just removed, and plain WebSockets have none.
   */
  private readonly clientsByUser = new Map<string, Set<RealtimeClient>>();

  private readonly deliveryLatency: Histogram<'event' | 'via'>;

  constructor(
    private readonly preferences: PreferencesService,
    private readonly config: ConfigService<AppConfig, true>,
    metrics: AppMetrics,
  ) {
    metrics.gauge(
      'chat_realtime_connections',
      'Realtime connections (Socket.IO and plain WebSocket) open on this instance',
      [],
      (gauge) => {
        let open = 0;
        for (const clients of this.clientsByUser.values()) open += clients.size;
        gauge.set(open);
      },
    );
    this.deliveryLatency = metrics.histogram(
      'chat_realtime_delivery_seconds',
      'From an event’s dispatch to its emission to this instance’s sockets, by event and path (local, or relayed from another instance)',
      ['event', 'via'],
      [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
  }

  attach(parent: Namespace): void {
    if (this.config.get('redisUrl', { infer: true })) {
      this.relay = parent.server.of(RELAY_NAMESPACE);
      this.relay.use((_socket, next) => next(new Error('Not a client namespace')));
      this.relay.on(RELAY_EVENT, (envelope: Envelope) => this.deliverLocally(envelope, 'relay'));
      this.relay.on(RELAY_DISCONNECT_USER, (userId: string) => this.disconnectLocally(userId));
    }
  }

  @OnEvent(DomainEvent.MessageCreated)
  onMessageCreated(event: MessageCreatedPayload): void {
    const message = event.message as MessageDto;
    this.dispatch({
      userId: event.userId,
      conversationId: event.conversationId,
      event: ServerEvent.MessageCreated,
      payload: { conversationId: event.conversationId, message },
    });
    if (message.type === 'assistant' && message.status === 'pending') {
      this.typing(event.userId, event.conversationId, 'assistant', 'start');
    }
  }

  @OnEvent(DomainEvent.MessageDelta)
  onMessageDelta(event: MessageDeltaPayload): void {
    const { conversationId, messageId, index, text } = event;
    this.dispatch({
      userId: event.userId,
      conversationId,
      event: ServerEvent.MessageDelta,
      payload: { conversationId, messageId, index, text },
    });
  }

  @OnEvent(DomainEvent.MessageCompleted)
  async onMessageCompleted(event: MessageFinishedPayload): Promise<void> {
    this.finish(event, ServerEvent.MessageCompleted);
    try {
      const preferences = await this.preferences.get(event.userId);
      if (!preferences.notifications.replyCompleted) return;
      this.dispatch({
        userId: event.userId,
        conversationId: event.conversationId,
        event: ServerEvent.Notification,
        payload: { type: 'reply.completed', conversationId: event.conversationId, messageId: event.messageId },
        onlyNotFollowing: true,
      });
    } catch (error) {
      this.logger.warn({ err: error }, 'Reply notification failed');
    }
  }

  @OnEvent(DomainEvent.MessageFailed)
  onMessageFailed(event: MessageFinishedPayload): void {
    this.finish(event, ServerEvent.MessageFailed);
  }

  @OnEvent(DomainEvent.MessageDeleted)
  onMessageDeleted(event: MessageDeletedPayload): void {
    const { conversationId, messageId } = event;
    this.dispatch({ userId: event.userId, conversationId, event: ServerEvent.MessageDeleted, payload: { conversationId, messageId } });
  }

  @OnEvent(DomainEvent.AttachmentCreated)
  onAttachmentCreated(event: AttachmentEventPayload): void {
    this.attachmentEvent(event, ServerEvent.AttachmentCreated);
  }

  @OnEvent(DomainEvent.AttachmentProcessed)
  onAttachmentProcessed(event: AttachmentEventPayload): void {
    this.attachmentEvent(event, ServerEvent.AttachmentProcessed);
  }

  @OnEvent(DomainEvent.AttachmentFailed)
  onAttachmentFailed(event: AttachmentEventPayload): void {
    this.attachmentEvent(event, ServerEvent.AttachmentFailed);
  }

  @OnEvent(DomainEvent.AttachmentDeleted)
  onAttachmentDeleted(event: AttachmentEventPayload): void {
    this.attachmentEvent(event, ServerEvent.AttachmentDeleted);
  }

  @OnEvent(DomainEvent.ConversationUpdated)
  onConversationUpdated(event: ConversationEventPayload): void {
    if (!event.conversation) return;
    this.dispatch({
      userId: event.userId,
      event: ServerEvent.ConversationUpdated,
      payload: { conversationId: event.conversationId, conversation: event.conversation },
    });
  }

  @OnEvent(DomainEvent.DataExportReady)
  onDataExportReady(event: DataExportReadyPayload): void {
    const { exportId, subjectUserId, expiresAt } = event;
    this.dispatch({ userId: event.userId, event: ServerEvent.DataExportReady, payload: { exportId, subjectUserId, expiresAt } });
  }

  /**
   * Closes every socket of the user, on this instance and (through Redis) on every other one: their
   * data is being erased or anonymised. Answers how many were open on this instance.
   */
  disconnectUser(userId: string): number {
    this.relay?.serverSideEmit(RELAY_DISCONNECT_USER, userId);
    return this.disconnectLocally(userId);
  }

  register(client: RealtimeClient): void {
    const userId = client.state.user.id;
    const clients = this.clientsByUser.get(userId) ?? new Set<RealtimeClient>();
    clients.add(client);
    this.clientsByUser.set(userId, clients);
  }

  unregister(client: RealtimeClient): void {
    const userId = client.state.user.id;
    const clients = this.clientsByUser.get(userId);
    clients?.delete(client);
    if (clients?.size === 0) this.clientsByUser.delete(userId);
  }

  /** Connections of a user on this instance. */
  connectionCount(userId: string): number {
    return this.clientsByUser.get(userId)?.size ?? 0;
  }

  typing(userId: string, conversationId: string, actor: 'user' | 'assistant', state: 'start' | 'stop', exceptSocketId?: string): void {
    this.dispatch({ userId, conversationId, event: ServerEvent.Typing, payload: { conversationId, actor, state }, exceptSocketId });
  }

  read(userId: string, conversationId: string, messageId: string, exceptSocketId: string): void {
    this.dispatch({
      userId,
      conversationId,
      event: ServerEvent.MessageRead,
      payload: { conversationId, messageId, at: new Date().toISOString() },
      exceptSocketId,
    });
  }

  presence(userId: string, socketId: string, state: 'online' | 'offline'): void {
    this.dispatch({ userId, event: ServerEvent.Presence, payload: { socketId, state }, exceptSocketId: socketId });
  }

  /** Sends one conversation event to one connection, respecting its replay state and what the replay sent. */
  deliverTo(client: RealtimeClient, conversationId: string, event: keyof ServerToClientEvents, payload: unknown): void {
    const follow = client.state.following.get(conversationId);
    if (!follow) return;
    if (follow.replaying) {
      follow.buffered.push([event, payload]);
      return;
    }
    if (event === ServerEvent.MessageCreated && follow.replayed?.has((payload as { message: MessageDto }).message.id)) return;
    client.emit(event, payload);
  }

  private attachmentEvent(event: AttachmentEventPayload, name: AttachmentServerEvent): void {
    const { conversationId, messageId } = event;
    this.dispatch({
      userId: event.userId,
      conversationId,
      event: name,
      payload: { conversationId, messageId, attachment: event.attachment as AttachmentDto },
    });
  }

  private finish(event: MessageFinishedPayload, name: typeof ServerEvent.MessageCompleted | typeof ServerEvent.MessageFailed): void {
    this.dispatch({
      userId: event.userId,
      conversationId: event.conversationId,
      event: name,
      payload: { conversationId: event.conversationId, message: event.message },
    });
    this.typing(event.userId, event.conversationId, 'assistant', 'stop');
  }

  private dispatch(envelope: Envelope): void {
    const sent = { ...envelope, sentAt: Date.now() };
    this.deliverLocally(sent, 'local');
    // A failed publish is logged by the adapter's publisher (RealtimeIoAdapter): the other instances miss it and replay on reconnect.
    this.relay?.serverSideEmit(RELAY_EVENT, sent);
  }

  private disconnectLocally(userId: string): number {
    // Copied first: each disconnect unregisters its connection from this set.
    const clients = [...(this.clientsByUser.get(userId) ?? [])];
    for (const client of clients) client.disconnect('user-data-erased');
    if (clients.length > 0)
      this.logger.log({ sockets: clients.length }, 'Closed the connections of a user whose data is being erased or anonymised');
    return clients.length;
  }

  private deliverLocally(envelope: Envelope, via: 'local' | 'relay'): void {
    const clients = this.clientsByUser.get(envelope.userId);
    if (clients?.size && envelope.sentAt !== undefined) {
      this.deliveryLatency.observe({ event: envelope.event, via }, Math.max(0, Date.now() - envelope.sentAt) / 1000);
    }
    for (const client of clients ?? []) {
      if (client.id === envelope.exceptSocketId) continue;
      const follows = envelope.conversationId !== undefined && client.state.following.has(envelope.conversationId);
      if (envelope.onlyNotFollowing) {
        if (!follows) client.emit(envelope.event, envelope.payload);
      } else if (envelope.conversationId === undefined) {
        client.emit(envelope.event, envelope.payload);
      } else if (follows) {
        this.deliverTo(client, envelope.conversationId, envelope.event, envelope.payload);
      }
    }
  }
}
