import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { MongooseModule } from '@nestjs/mongoose';
import mongoose from 'mongoose';
import { ConnectTarget, DatabaseConnector, MONGOOSE_CONNECT_OPTIONS } from './database-connector.js';
import { StoreAvailableGuard } from './store-available.guard.js';
import { MONGO_STORE, StoreStatus } from './store-status.js';
import type { MongoStore } from './store/mongo-store.js';

// Unknown filter paths are dropped rather than queried; see also sanitizeFilter on the connection.
mongoose.set('strictQuery', true);

export interface DatabaseOptions {
  uri: string;
  /** Overrides the database named in the URI (tests give every file its own). */
  dbName: string;
  /** How long an operation waits for a reachable server before it fails (and the request answers 503). */
  serverSelectionTimeoutMs?: number;
  /** The store this process started, whose supervisor tells when it is restarting or out of disk. */
  store?: MongoStore;
}

@Global()
@Module({})
export class DatabaseModule {
  static forRoot(options: DatabaseOptions): DynamicModule {
    const connectOptions: mongoose.ConnectOptions = {
      dbName: options.dbName,
      // Indexes and collections are the migrations' job, never a side effect of booting.
      autoIndex: false,
      autoCreate: false,
      // A filter value that is an object with $-keys is compared literally; operators we mean
      // to use are wrapped in mongoose.trusted().
      sanitizeFilter: true,
      // While no server is reachable, operations fail fast (503 STORE_UNAVAILABLE) instead of queueing.
      bufferCommands: false,
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMs ?? 2000,
      // Acknowledged means stored: journaled on a majority (the embedded store syncs to disk).
      ...(hasUriOption(options.uri, 'w') ? {} : { writeConcern: { w: 'majority' as const, journal: true } }),
      ...(hasUriOption(options.uri, 'retryWrites') ? {} : { retryWrites: true }),
    };
    const target: ConnectTarget = { uri: options.uri, options: connectOptions };
    return {
      module: DatabaseModule,
      imports: [
        // The boot does not wait for the server: DatabaseConnector connects, retries and migrates.
        MongooseModule.forRoot(options.uri, { ...connectOptions, lazyConnection: true }),
      ],
      providers: [
        { provide: MONGOOSE_CONNECT_OPTIONS, useValue: target },
        { provide: MONGO_STORE, useValue: options.store ?? null },
        StoreStatus,
        DatabaseConnector,
        { provide: APP_GUARD, useClass: StoreAvailableGuard },
      ],
      exports: [StoreStatus],
    };
  }
}

function hasUriOption(uri: string, name: string): boolean {
  return new RegExp(`[?&]${name}=`, 'i').test(uri);
}
