import { INestApplicationContext, Logger } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import type { Server, ServerOptions } from 'socket.io';
import type { AppConfig } from '../common/config/app-config.js';
import { MAX_PAYLOAD_BYTES, SOCKET_PATH } from './realtime.events.js';

/**
 * Socket.IO on the app's HTTP port at /ws, with the configured heartbeat, a payload cap, the
 * browser Origin checked against CORS_ORIGINS, and, with REDIS_URL, the Redis adapter that carries
 * events between instances.
 */
export class RealtimeIoAdapter extends IoAdapter {
  private readonly log = new Logger('Realtime');
  private redisClients: { quit(): Promise<unknown> }[] = [];

  constructor(
    app: INestApplicationContext,
    private readonly config: AppConfig,
  ) {
    super(app);
  }

  /** Connects to Redis first when configured, so the adapter is ready before any socket arrives. */
  async connectRedis(): Promise<void> {
    if (!this.config.redisUrl) return;
    const publisher = createClient({ url: this.config.redisUrl });
    const subscriber = publisher.duplicate();
    publisher.on('error', (error: Error) => this.log.error({ err: error }, 'Redis publisher error'));
    subscriber.on('error', (error: Error) => this.log.error({ err: error }, 'Redis subscriber error'));
    await Promise.all([publisher.connect(), subscriber.connect()]);
    this.redisClients = [publisher, subscriber];
    this.adapterFactory = createAdapter(this.publishingWithoutRejections(publisher), subscriber);
  }

  private adapterFactory?: ReturnType<typeof createAdapter>;

  /**
   * The publisher as the adapter sees it: a publish that fails (the client closed at shutdown while
   * a late event is relayed) is logged instead of rejecting where nobody catches it, which would
   * end the process.
   */
  private publishingWithoutRejections(publisher: ReturnType<typeof createClient>): ReturnType<typeof createClient> {
    const log = this.log;
    return new Proxy(publisher, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (property === 'publish') {
          return (...args: Parameters<typeof target.publish>) =>
            target.publish(...args).catch((error: unknown) => {
              log.warn({ err: error }, 'Could not relay a realtime event through Redis');
              return 0;
            });
        }
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const origins = this.config.http.corsOrigins;
    const server = super.createIOServer(port, {
      ...options,
      path: SOCKET_PATH,
      pingInterval: this.config.websockets.heartbeatIntervalSeconds * 1000,
      pingTimeout: 20_000,
      maxHttpBufferSize: MAX_PAYLOAD_BYTES,
      cleanupEmptyChildNamespaces: true,
      cors: origins.length > 0 ? { origin: origins, credentials: false } : undefined,
      allowRequest: (request, callback) => {
        const origin = request.headers.origin;
        // Non-browser clients send no Origin; browsers must come from an allowed site when a list is set.
        if (origin === undefined || origins.length === 0 || origins.includes(origin)) callback(null, true);
        else callback('Origin not allowed', false);
      },
    } as ServerOptions);
    if (this.adapterFactory) server.adapter(this.adapterFactory);
    return server;
  }

  /**
   * Nothing to bind: the gateway takes every client event through one listener shared by all
   * sockets (Nest's default would keep an rxjs pipeline per socket even with no handlers).
   */
  override bindMessageHandlers(): void {}

  override async close(server: Server): Promise<void> {
    await super.close(server);
    await Promise.all(this.redisClients.map((client) => client.quit().catch(() => undefined)));
    this.redisClients = [];
  }
}
