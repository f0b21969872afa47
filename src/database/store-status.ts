import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import mongoose from 'mongoose';
import { storeUnavailable } from '../common/errors/store-errors.js';
import { AppMetrics } from '../metrics/app-metrics.js';
import type { MongoStore, StoreState } from './store/mongo-store.js';

/** The store this process started (its supervisor's state), or null when it uses one it did not start. */
export const MONGO_STORE = Symbol('MONGO_STORE');

/** What `/health/ready` and the request guard know of the store. */
export interface StoreAvailability {
  available: boolean;
  /** Why not, in words an operator can act on; null when available. */
  reason: string | null;
}

/** How long a scrape waits for the store's ping. */
const PING_TIMEOUT_MS = 1000;

/** Supervisor state for stores this process does not run (an external MONGODB_URI). */
const EXTERNAL: StoreState = { status: 'up', reason: null, detail: null, restarts: 0 };

/**
 * Tracks whether the store can serve requests, from three sources: the supervisor of a store this
 * process started (restarting, out of disk), the driver's view of the servers (a reachable
 * writable server), and whether the schema is migrated. Requests are answered 503 at once while it
 * is unavailable instead of waiting for a server selection to time out.
 */
@Injectable()
export class StoreStatus implements OnApplicationShutdown {
  private schemaReady = false;
  private schemaProblem: string | null = 'connecting to the database';
  private writableServer = true;
  private pingInFlight: Promise<number | null> | null = null;
  private readonly stopWatchingStore: () => void;
  private readonly onTopologyChange = (event: mongoose.mongo.TopologyDescriptionChangedEvent) => {
    const servers = [...event.newDescription.servers.values()];
    this.writableServer = servers.some((server) => server.isWritable);
  };

  constructor(
    @InjectConnection() private readonly connection: mongoose.Connection,
    @Inject(MONGO_STORE) private readonly store: MongoStore | null,
    metrics: AppMetrics,
  ) {
    metrics.gauge('chat_store_available', '1 while the store can serve requests (what /health/ready reports), else 0', [], (gauge) =>
      gauge.set(this.availability().available ? 1 : 0),
    );
    metrics.gauge(
      'chat_store_round_trip_seconds',
      'A ping to the store, timed when scraped (waited for 1 s at most); no sample while it is unavailable or the ping fails',
      [],
      async (gauge) => {
        gauge.reset();
        const seconds = await this.pingSeconds();
        if (seconds !== null) gauge.set(seconds);
      },
    );
    // The driver re-checks a server it saw die only every heartbeat (10 s); a ping asks for a check
    // at once, so requests flow again as soon as the restarted store answers.
    this.stopWatchingStore =
      store?.onStateChange((state) => {
        if (state.status === 'up')
          void this.connection.db
            ?.admin()
            .ping()
            .catch(() => undefined);
      }) ?? (() => undefined);
    connection.on('connected', () => this.watchDriver());
    if (connection.readyState === mongoose.ConnectionStates.connected) this.watchDriver();
  }

  /** The embedded store's own kind, or null for a store this process does not run. */
  get embeddedKind(): MongoStore['kind'] | null {
    return this.store && this.store.kind !== 'external' ? this.store.kind : null;
  }

  markSchemaReady(): void {
    this.schemaReady = true;
    this.schemaProblem = null;
  }

  markSchemaPending(problem: string): void {
    if (!this.schemaReady) this.schemaProblem = problem;
  }

  availability(): StoreAvailability {
    const supervisor = this.store?.state() ?? EXTERNAL;
    if (supervisor.status !== 'up') {
      const why =
        supervisor.reason === 'disk-full'
          ? 'the embedded store is out of disk space and restarts once space is freed'
          : supervisor.status === 'stopped'
            ? 'the embedded store is stopped'
            : 'the embedded store is restarting';
      return { available: false, reason: supervisor.detail ? `${why} (${supervisor.detail})` : why };
    }
    if (!this.schemaReady) return { available: false, reason: this.schemaProblem ?? 'starting' };
    if (!this.writableServer || this.connection.readyState !== mongoose.ConnectionStates.connected) {
      return { available: false, reason: 'no reachable MongoDB server accepts writes' };
    }
    return { available: true, reason: null };
  }

  /** Throws the 503 STORE_UNAVAILABLE answer while the store cannot serve. */
  assertAvailable(): void {
    const { available, reason } = this.availability();
    if (!available) throw storeUnavailable(`The database is unavailable (${reason}); retry shortly`);
  }

  /**
   * The round trip of one ping; null when the store is unavailable, or does not answer within
   * PING_TIMEOUT_MS (the ping is then aborted, and the scrape does not wait for it). Concurrent
   * scrapes share one ping.
   */
  private pingSeconds(): Promise<number | null> {
    const db = this.connection.db;
    if (!db || !this.availability().available) return Promise.resolve(null);
    this.pingInFlight ??= (async () => {
      const started = process.hrtime.bigint();
      try {
        await db.command({ ping: 1 }, { signal: AbortSignal.timeout(PING_TIMEOUT_MS) });
        return Number(process.hrtime.bigint() - started) / 1e9;
      } catch {
        return null;
      } finally {
        this.pingInFlight = null;
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), PING_TIMEOUT_MS)));
    return Promise.race([this.pingInFlight, deadline]).finally(() => clearTimeout(timer));
  }

  onApplicationShutdown(): void {
    this.stopWatchingStore();
    this.connection.getClient().off('topologyDescriptionChanged', this.onTopologyChange);
  }

  private watchDriver(): void {
    const client = this.connection.getClient();
    client.off('topologyDescriptionChanged', this.onTopologyChange);
    client.on('topologyDescriptionChanged', this.onTopologyChange);
  }
}
