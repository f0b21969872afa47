import { Injectable, OnModuleInit } from '@nestjs/common';
import { UserDataRegistry } from '../common/user-data/user-data.registry.js';
import type { DataCounts, ExportPart, Pseudonymisation, UserDataHolding, UserDataProvider } from '../common/user-data/user-data.js';
import { RealtimeHub } from './realtime.hub.js';

/** The in-memory store of open sockets, as holdings name it. */
export const REALTIME_SOCKETS_STORE = 'memory:realtime-sockets';
/** The count key of sockets closed or open (on the instance that answers). */
const SOCKETS = 'sockets';

/**
 * What the realtime gateway holds of a user: open sockets, in memory only (never stored), each
 * with the token's user (id, roles, name, email) and the conversations it follows. Nothing to
 * export; erasing or anonymising the user closes every one of their sockets on every instance.
 * Mounted with the gateway (ENABLE_WEBSOCKETS=true).
 */
@Injectable()
export class RealtimeUserDataProvider implements UserDataProvider, OnModuleInit {
  readonly name = 'realtime';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: REALTIME_SOCKETS_STORE,
      userFields: ['user.id'],
      description:
        'Open realtime connections (Socket.IO and plain WebSocket), in the memory of each instance and never stored: the token’s user (id, roles, name, email) ' +
        'and the conversations each connection follows. Gone when the connection closes.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly hub: RealtimeHub,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
  }

  /** Open sockets of the user on this instance. */
  inventory(userId: string): Promise<DataCounts> {
    return Promise.resolve({ [SOCKETS]: this.hub.connectionCount(userId) });
  }

  /** Nothing is stored, so nothing is exported. */
  async *export(): AsyncGenerator<ExportPart> {}

  /** Closes the user's sockets on every instance; counts those closed on this one. */
  erase(userId: string): Promise<DataCounts> {
    return Promise.resolve({ [SOCKETS]: this.hub.disconnectUser(userId) });
  }

  /** Open sockets carry the real identity, so they are closed as on erasure. */
  pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    return this.erase(request.userId);
  }
}
