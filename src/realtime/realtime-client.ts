import type { AuthenticatedUser } from '../auth/authenticated-user.js';
import type { ServerToClientEvents } from './realtime.events.js';

export interface FollowState {
  /**
   * Ids of the messages the replay sent, kept for a while after it: seq order is not commit order
   * (two concurrent sends can commit out of order), and a message's live event can come after the
   * replay read it, so duplicates are told by id. Null afterwards: bounded per connection.
   */
  replayed: Set<string> | null;
  /** While missed messages are replayed, live events wait here. */
  replaying: boolean;
  buffered: [keyof ServerToClientEvents, unknown][];
}

/** What the server keeps of one realtime connection, whichever protocol it speaks. */
export interface ClientState {
  user: AuthenticatedUser;
  /** Its place under the per-user connection cap (ConnectionSlots), given back when it closes. */
  slot: string;
  expiresAt: Date | null;
  /** The one conversation a connection to `/chat/<id>` (Socket.IO) or `/ws/chat/<id>` (plain WebSocket) follows. */
  pinnedConversationId?: string;
  /** For a pinned conversation: the seq the client last saw (its `since`), validated before it was admitted. */
  initialAfterSeq: number | null;
  expiryTimer?: NodeJS.Timeout;
  following: Map<string, FollowState>;
  /** Conversations the client is typing in: when its start was last forwarded, and the timer that stops it. Made on first use. */
  typing?: Map<string, { sentAt: number; autoStop: NodeJS.Timeout }>;
}

/** Why the server closes a connection, for protocols that can say so (the plain WebSocket's close code). */
export type CloseReason = 'session-expired' | 'user-data-erased';

/**
 * One realtime connection as the hub and the sessions see it: a Socket.IO socket or a plain
 * WebSocket, each wrapped by its own server.
 */
export interface RealtimeClient {
  readonly id: string;
  readonly state: ClientState;
  emit(event: keyof ServerToClientEvents, payload: unknown): void;
  disconnect(reason: CloseReason): void;
}
