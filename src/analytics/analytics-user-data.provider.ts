import { Injectable, OnModuleInit } from '@nestjs/common';
import { asyncIterableOf } from '../common/user-data/async-iterable.js';
import { UserDataRegistry } from '../common/user-data/user-data.registry.js';
import type { DataCounts, ExportPart, Pseudonymisation, UserDataHolding, UserDataProvider } from '../common/user-data/user-data.js';
import { AnalyticsRepository } from './analytics.repository.js';
import { ANALYTICS_COLLECTION } from './schemas/analytics-rollup.schema.js';
import { FEATURE_USAGE_COLLECTION } from './schemas/feature-usage.schema.js';

/**
 * A user's own analytics: their user-scope rollups and their feature-use counters, and their id in
 * the members (active users per day) of the role, agent and global daily rollups. Exported;
 * erased (own documents deleted, id taken out of the members); under pseudonymisation the own
 * rollups are dropped (open days are recomputed under the pseudonym from the pseudonymised
 * messages) and the counters and members move to the pseudonym. Unanswered questions name message
 * ids, whose text is read when the dashboard is shown, so an erased message is never shown.
 */
@Injectable()
export class AnalyticsUserDataProvider implements UserDataProvider, OnModuleInit {
  readonly name = 'analytics';
  readonly holdings: readonly UserDataHolding[] = [
    {
      store: ANALYTICS_COLLECTION,
      userFields: ['userId', 'scopeId', 'members.active', 'members.attachments', 'members.search', 'members.export', 'members.realtime'],
      description:
        'Your own usage figures per day, week and month (messages, sessions, response times, ratings), and your id among the active users of a day in the shared figures.',
    },
    {
      store: FEATURE_USAGE_COLLECTION,
      userFields: ['userId'],
      description: 'How many times a day you searched, exported conversations or connected for live updates.',
    },
  ];

  constructor(
    private readonly registry: UserDataRegistry,
    private readonly repository: AnalyticsRepository,
  ) {}

  onModuleInit(): void {
    this.registry.registerUserData(this);
  }

  async inventory(userId: string): Promise<DataCounts> {
    const counts = await this.repository.countOwned(userId);
    return { [ANALYTICS_COLLECTION]: counts.rollups, [FEATURE_USAGE_COLLECTION]: counts.usage };
  }

  export(userId: string): AsyncIterable<ExportPart> {
    return asyncIterableOf<ExportPart>([
      {
        kind: 'records',
        name: 'analytics',
        description: 'Your own usage figures per day, week and month, as the analytics dashboard shows them.',
        records: this.rollups(userId),
        csvColumns: [
          'period',
          'periodKey',
          'metrics.messages.user',
          'metrics.sessions.count',
          'metrics.feedback.up',
          'metrics.feedback.down',
        ],
      },
      {
        kind: 'records',
        name: 'feature-usage',
        description: 'How many times a day you searched, exported conversations or connected for live updates.',
        records: this.usage(userId),
        csvColumns: ['day', 'feature', 'count', 'lastAt'],
      },
    ]);
  }

  async erase(userId: string): Promise<DataCounts> {
    const removed = await this.repository.deleteOwned(userId);
    const unlisted = await this.repository.removeMember(userId);
    return { [ANALYTICS_COLLECTION]: removed.rollups + unlisted, [FEATURE_USAGE_COLLECTION]: removed.usage };
  }

  async pseudonymise(request: Pseudonymisation): Promise<DataCounts> {
    const rollups = (await this.repository.deleteOwned(request.userId)).rollups;
    const renamed = await this.repository.renameMember(request.userId, request.pseudonym);
    const usage = await this.repository.renameUsage(request.userId, request.pseudonym);
    return { [ANALYTICS_COLLECTION]: rollups + renamed, [FEATURE_USAGE_COLLECTION]: usage };
  }

  private async *rollups(userId: string): AsyncGenerator<Record<string, unknown>> {
    for await (const record of this.repository.streamOwnedRollups(userId)) {
      yield {
        period: record.period,
        periodKey: record.periodKey,
        periodStart: record.periodStart.toISOString(),
        periodEnd: record.periodEnd.toISOString(),
        metrics: record.metrics,
        insights: { busiestHours: record.insights.busiestHours, satisfactionScore: record.insights.satisfactionScore },
        generatedAt: record.generatedAt.toISOString(),
      };
    }
  }

  private async *usage(userId: string): AsyncGenerator<Record<string, unknown>> {
    for await (const record of this.repository.streamOwnedUsage(userId)) {
      yield { day: record.day, feature: record.feature, count: record.count, lastAt: record.lastAt.toISOString() };
    }
  }
}
