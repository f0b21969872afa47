import { Injectable, Logger } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import { DomainEvent, type FeatureUsedPayload } from '../common/events/domain-events.js';
import { AnalyticsRepository } from './analytics.repository.js';
import { AnalyticsCalendar } from './rollup/calendar.js';

/**
 * Stores each search, conversation export and realtime connection as a per-user, per-day
 * counter in chat_feature_usage (the only trace those uses leave), for search and export use
 * and feature adoption. Registered only with CHAT_ENABLE_ANALYTICS on. The write happens after
 * the answer; one that fails is logged and that use goes uncounted (the feature itself is not
 * affected).
 */
@Injectable()
export class FeatureUsageRecorder {
  private readonly logger = new Logger('Analytics');

  constructor(
    private readonly repository: AnalyticsRepository,
    private readonly calendar: AnalyticsCalendar,
  ) {}

  @OnEvent(DomainEvent.FeatureUsed, { async: true, promisify: true, suppressErrors: true })
  async onFeatureUsed(event: FeatureUsedPayload): Promise<void> {
    const day = this.calendar.periodOf('daily', event.at).key;
    await this.repository
      .recordUse(event.userId, day, event.feature, event.at)
      .catch((error: unknown) => this.logger.warn({ err: error, feature: event.feature }, 'feature use not recorded'));
  }
}
