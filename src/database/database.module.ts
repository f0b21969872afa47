import { DynamicModule, Injectable, Logger, Module, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectConnection, MongooseModule } from '@nestjs/mongoose';
import mongoose from 'mongoose';
import { MIGRATIONS } from '../../migrations/index.js';
import { AppConfig } from '../common/config/app-config.js';
import { MigrationRunner } from './migrations/migration-runner.js';

// Unknown filter paths are dropped rather than queried; see also sanitizeFilter on the connection.
mongoose.set('strictQuery', true);

export interface DatabaseOptions {
  uri: string;
  /** Overrides the database named in the URI (tests give every file its own). */
  dbName: string;
}

@Injectable()
class MigrateOnBoot implements OnModuleInit {
  private readonly logger = new Logger('Migrations');

  constructor(
    @InjectConnection() private readonly connection: mongoose.Connection,
    private readonly config: ConfigService<AppConfig, true>,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.config.get('mongo', { infer: true }).runMigrationsOnBoot) return;
    const runner = new MigrationRunner(this.connection.db!, MIGRATIONS, { log: (message) => this.logger.log(message) });
    const applied = await runner.up();
    this.logger.log(applied.length > 0 ? `applied ${applied.join(', ')}` : 'schema is up to date');
  }
}

@Module({})
export class DatabaseModule {
  static forRoot(options: DatabaseOptions): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        MongooseModule.forRoot(options.uri, {
          dbName: options.dbName,
          // Indexes and collections are the migrations' job, never a side effect of booting.
          autoIndex: false,
          autoCreate: false,
          // A filter value that is an object with $-keys is compared literally; operators we mean
          // to use are wrapped in mongoose.trusted().
          sanitizeFilter: true,
          serverSelectionTimeoutMS: 10_000,
          ...(hasUriOption(options.uri, 'w') ? {} : { writeConcern: { w: 'majority' as const } }),
          ...(hasUriOption(options.uri, 'retryWrites') ? {} : { retryWrites: true }),
        }),
      ],
      providers: [MigrateOnBoot],
    };
  }
}

function hasUriOption(uri: string, name: string): boolean {
  return new RegExp(`[?&]${name}=`, 'i').test(uri);
}
