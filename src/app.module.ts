import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ConfigModule } from '@nestjs/config';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AuthModule } from './auth/auth.module.js';
import { AppConfig } from './common/config/app-config.js';
import { AllExceptionsFilter } from './common/errors/all-exceptions.filter.js';
import { DomainEventsModule } from './common/events/domain-event-bus.js';
import { SharedRedisModule } from './common/redis/shared-redis.js';
import { loggerOptions } from './common/logging/logger.options.js';
import { ConversationsModule } from './conversations/conversations.module.js';
import { DatabaseModule, DatabaseOptions } from './database/database.module.js';
import { HealthModule } from './health/health.module.js';
import { JobsModule } from './jobs/jobs.module.js';
import { MessagesModule } from './messages/messages.module.js';
import { AgentsModule } from './agents/agents.module.js';
import { ChatModule } from './chat/chat.module.js';
import { AttachmentsModule } from './attachments/attachments.module.js';
import { SearchModule } from './search/search.module.js';
import { ExportModule } from './export/export.module.js';
import { FeedbackModule } from './feedback/feedback.module.js';
import { PreferencesModule } from './preferences/preferences.module.js';
import { RealtimeModule } from './realtime/realtime.module.js';
import { UserDataModule } from './common/user-data/user-data.registry.js';
import { ComplianceModule } from './compliance/compliance.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { AnalyticsModule } from './analytics/analytics.module.js';
import { LegacyImportModule } from './legacy-import/legacy-import.module.js';

export interface AppModuleOptions {
  config: AppConfig;
  database: DatabaseOptions;
  /** False for command-line tools: jobs run only when asked (`JobScheduler.runNow`), never by cron or at boot. Default true. */
  scheduleJobs?: boolean;
  /** Where logs go; standard output unless given (tests read them). */
  logDestination?: DestinationStream;
}

/**
 * The application. Configuration is loaded and validated before this module is built (see
 * main.ts), so every provider can rely on a complete, typed AppConfig.
 */
@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    // Each configured module is built once here and passed to the modules that use it: importing
    // a module class again elsewhere would build a second instance with its own state.
    const attachments = AttachmentsModule.forRoot({ routes: options.config.chat.enableFileUploads });
    const chat = ChatModule.withContextFrom(attachments);
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, load: [() => options.config] }),
        LoggerModule.forRoot(loggerOptions(options.config, options.logDestination)),
        EventEmitterModule.forRoot(),
        DomainEventsModule,
        SharedRedisModule,
        // The registry every module records its Prometheus metrics into; GET /metrics.
        MetricsModule.forRoot({ analytics: options.config.chat.enableAnalytics }),
        DatabaseModule.forRoot(options.database),
        // The one scheduler: feature modules register their jobs with its JobScheduler.
        JobsModule.forRoot({ schedule: options.scheduleJobs ?? true }),
        // The seam every module registers its user-data provider with; compliance drives them.
        UserDataModule,
        AuthModule,
        HealthModule,
        // Before ConversationsModule: their routes (/conversations/search, /conversations/export) must win over /conversations/:id.
        SearchModule.withAttachments(attachments),
        ExportModule.forRoot({ userExports: options.config.compliance.enableChatExport, attachments }),
        ConversationsModule,
        MessagesModule,
        AgentsModule,
        PreferencesModule,
        chat,
        FeedbackModule,
        attachments,
        ...(options.config.websockets.enabled ? [RealtimeModule.forRoot({ chat })] : []),
        ComplianceModule,
        AnalyticsModule.forRoot({ enabled: options.config.chat.enableAnalytics, attachments }),
        LegacyImportModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: AllExceptionsFilter }],
    };
  }
}
