import { Global, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createClient } from 'redis';
import type { AppConfig } from '../config/app-config.js';

type RedisClient = ReturnType<typeof createClient>;

/** How long a command may wait for Redis before the caller falls back to what this instance knows. */
const COMMAND_TIMEOUT_MS = 500;
/** Between warnings that Redis could not be used (a Redis outage must not flood the logs). */
const WARNING_INTERVAL_MS = 60_000;

/**
 * The application's Redis connection for state shared by instances (rate limits, connection
 * slots), with REDIS_URL; the Socket.IO adapter keeps its own publisher and subscriber. Commands
 * fail at once while Redis is away (no offline queue), so callers fall back to this instance's
 * own count instead of waiting: a limit is then held per instance, as without Redis.
 */
@Injectable()
export class SharedRedis implements OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private readonly client?: RedisClient;
  private warnedAt = 0;

  constructor(config: ConfigService<AppConfig, true>) {
    const url = config.get('redisUrl', { infer: true });
    if (!url) return;
    this.client = createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 5000) },
    });
    this.client.on('error', (error: Error) => this.warn(error, 'Redis connection error'));
    this.client
      .connect()
      .catch((error: unknown) => this.warn(error, 'Could not connect to Redis; limits are per instance until it answers'));
  }

  /** Redis is configured: state is meant to be shared (whether or not it answers right now). */
  get configured(): boolean {
    return this.client !== undefined;
  }

  /** Runs a Lua script; rejects when Redis is not configured, not connected, or slow. */
  async eval(script: string, keys: string[], args: string[]): Promise<unknown> {
    const client = this.client;
    if (!client?.isReady) throw new Error('Redis is not connected');
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        client.eval(script, { keys, arguments: args }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Redis did not answer within ${COMMAND_TIMEOUT_MS} ms`)), COMMAND_TIMEOUT_MS);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Says once a minute at most that Redis could not be used, and why. */
  warn(error: unknown, message: string): void {
    const now = Date.now();
    if (now - this.warnedAt < WARNING_INTERVAL_MS) return;
    this.warnedAt = now;
    this.logger.warn({ err: error }, message);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.client?.isOpen) await this.client.quit().catch(() => undefined);
  }
}

/** Global: one Redis connection for the whole application. */
@Global()
@Module({ providers: [SharedRedis], exports: [SharedRedis] })
export class SharedRedisModule {}
