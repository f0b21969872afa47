import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectConnection } from '@nestjs/mongoose';
import mongoose from 'mongoose';
import { MIGRATIONS } from '../../migrations/index.js';
import type { AppConfig } from '../common/config/app-config.js';
import { MigrationRunner } from './migrations/migration-runner.js';
import { StoreStatus } from './store-status.js';

export const MONGOOSE_CONNECT_OPTIONS = Symbol('MONGOOSE_CONNECT_OPTIONS');

export interface ConnectTarget {
  uri: string;
  options: mongoose.ConnectOptions;
}

const RETRY_DELAYS_MS = [1000, 2000, 5000, 10_000];

/**
 * Connects to MongoDB and applies pending migrations. The boot waits for the first attempt only:
 * when the server is down the app still starts (live, not ready, answering 503) and keeps trying
 * in the background, becoming ready once the server arrives and the schema is migrated.
 */
@Injectable()
export class DatabaseConnector implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private retryTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    @InjectConnection() private readonly connection: mongoose.Connection,
    @Inject(MONGOOSE_CONNECT_OPTIONS) private readonly target: ConnectTarget,
    private readonly status: StoreStatus,
    private readonly config: ConfigService<AppConfig, true>,
  ) {
    // A failed connection attempt is reported by the attempt itself; without a listener the
    // connection's 'error' event would end the process.
    connection.on('error', () => undefined);
  }

  async onModuleInit(): Promise<void> {
    await this.attempt(0, this.connection.asPromise());
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
  }

  private async attempt(failures: number, connecting: Promise<unknown>): Promise<void> {
    try {
      await connecting;
      await this.migrate();
      this.status.markSchemaReady();
      if (failures > 0) this.logger.log('connected to MongoDB; the app is ready');
    } catch (error) {
      if (this.stopped) return;
      const delay = RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length - 1)]!;
      const problem = `cannot reach MongoDB: ${(error as Error).message}`;
      this.status.markSchemaPending(problem);
      this.logger.warn(`${problem}; the app stays up and not ready, retrying in ${delay / 1000} s`);
      this.retryTimer = setTimeout(() => {
        const reconnect =
          this.connection.readyState === mongoose.ConnectionStates.connected
            ? Promise.resolve()
            : this.connection.openUri(this.target.uri, this.target.options);
        void this.attempt(failures + 1, reconnect);
      }, delay);
      this.retryTimer.unref();
    }
  }

  private async migrate(): Promise<void> {
    if (!this.config.get('mongo', { infer: true }).runMigrationsOnBoot) return;
    const runner = new MigrationRunner(this.connection.db!, MIGRATIONS, { log: (message) => this.logger.log(message) });
    const applied = await runner.up();
    this.logger.log(applied.length > 0 ? `applied ${applied.join(', ')}` : 'schema is up to date');
  }
}
