import { DynamicModule, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { MongooseModule } from '@nestjs/mongoose';
import { AgentsModule } from '../agents/agents.module.js';
import type { AppConfig } from '../common/config/app-config.js';
import { ConversationsModule } from '../conversations/conversations.module.js';
import { FeedbackModule } from '../feedback/feedback.module.js';
import { MessagesModule } from '../messages/messages.module.js';
import { AnalyticsDashboardService } from './analytics-dashboard.service.js';
import { AnalyticsRollupJob } from './analytics-rollup.job.js';
import { AnalyticsRollupService } from './analytics-rollup.service.js';
import { AnalyticsUserDataProvider } from './analytics-user-data.provider.js';
import { AnalyticsController } from './analytics.controller.js';
import { AnalyticsRepository } from './analytics.repository.js';
import { FeatureUsageRecorder } from './feature-usage.recorder.js';
import { AnalyticsCalendar } from './rollup/calendar.js';
import { AnalyticsRollup, AnalyticsRollupSchema } from './schemas/analytics-rollup.schema.js';
import { FeatureUsage, FeatureUsageSchema } from './schemas/feature-usage.schema.js';

/**
 * Analytics: the rollups in chat_analytics (computed from each module's stored data through its
 * service, see src/common/analytics), the dashboard and time series API, and the feature-use
 * counters. With CHAT_ENABLE_ANALYTICS=false nothing is rolled up or counted and the routes answer
 * 404 ANALYTICS_DISABLED; the user-data provider stays, so what was stored can still be exported
 * and erased.
 */
@Module({})
export class AnalyticsModule {
  static forRoot(options: { enabled: boolean; attachments: DynamicModule }): DynamicModule {
    return {
      module: AnalyticsModule,
      imports: [
        ConversationsModule,
        MessagesModule,
        FeedbackModule,
        AgentsModule,
        options.attachments,
        MongooseModule.forFeature([
          { name: AnalyticsRollup.name, schema: AnalyticsRollupSchema },
          { name: FeatureUsage.name, schema: FeatureUsageSchema },
        ]),
      ],
      controllers: [AnalyticsController],
      providers: [
        {
          provide: AnalyticsCalendar,
          inject: [ConfigService],
          useFactory: (config: ConfigService<AppConfig, true>) => new AnalyticsCalendar(config.get('analytics', { infer: true }).timeZone),
        },
        AnalyticsRepository,
        AnalyticsRollupService,
        AnalyticsRollupJob,
        AnalyticsDashboardService,
        AnalyticsUserDataProvider,
        ...(options.enabled ? [FeatureUsageRecorder] : []),
      ],
      exports: [AnalyticsRollupJob],
    };
  }
}
