import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AttachmentsService } from '../attachments/attachments.service.js';
import { ConversationsService } from '../conversations/conversations.service.js';
import { FeedbackService } from '../feedback/feedback.service.js';
import { MessagesService } from '../messages/messages.service.js';
import { AnalyticsRepository, RollupRecord } from './analytics.repository.js';
import { AnalyticsCalendar, CalendarPeriod } from './rollup/calendar.js';
import { DayFactSources, SESSION_LOOKAHEAD_MS, rollUpDay } from './rollup/day-rollup.js';
import { RollupFigures, Scope, countMembers, mergeFigures } from './rollup/rollup-figures.js';

/** Rollup documents written per bulk write. */
const WRITE_BATCH = 500;

/** What writing one period's rollups did. */
export interface WriteCounts {
  written: number;
  unchanged: number;
  removed: number;
}

/** What a rollup of some days did, for progress and the job's counts. */
export interface RollupCounts extends WriteCounts {
  days: number;
  periods: number;
}

/**
 * Computes rollups from the stored facts and stores them in chat_analytics. A day is computed
 * from the facts (see rollUpDay); a week or a month is merged from its days' rollups. Each
 * document's id names its period and scope, and its digest its figures: a recompute writes only
 * the documents whose figures changed and removes those of scopes that are gone (an erased
 * user), so computing a period twice leaves exactly the same documents.
 */
@Injectable()
export class AnalyticsRollupService {
  private readonly sources: DayFactSources;

  constructor(
    private readonly repository: AnalyticsRepository,
    private readonly calendar: AnalyticsCalendar,
    messages: MessagesService,
    conversations: ConversationsService,
    attachments: AttachmentsService,
    feedback: FeedbackService,
  ) {
    this.sources = {
      messages: (from, to) => messages.factsBetween(from, to),
      questionTerms: (from, to) => messages.questionTermsBetween(from, to),
      conversations: (from, to) => conversations.startedBetween(from, to),
      attachments: (from, to) => attachments.factsBetween(from, to),
      feedback: (from, to) => feedback.factsBetween(from, to),
      featureUsage: (day) => repository.usageOfDay(day),
      labels: (ids) => conversations.labelsOf(ids),
    };
  }

  /**
   * Recomputes these days, then the weeks and months they fall in. `progress` is called after
   * each day and period with the counts so far (it may throw to stop the run).
   */
  async rollUp(
    days: readonly CalendarPeriod[],
    now: Date,
    progress: (message: string, counts: RollupCounts) => Promise<void>,
  ): Promise<RollupCounts> {
    const counts: RollupCounts = { days: 0, periods: 0, written: 0, unchanged: 0, removed: 0 };
    const add = (written: WriteCounts) => {
      counts.written += written.written;
      counts.unchanged += written.unchanged;
      counts.removed += written.removed;
    };
    const longer = new Map<string, CalendarPeriod>();
    for (const day of days) {
      const figures = await rollUpDay(this.sources, {
        day,
        hourOf: this.calendar.hourReader(day),
        weekday: this.calendar.weekdayOf(day),
        until: now,
      });
      add(await this.write(day, figures, isFinal(day, now), now));
      counts.days += 1;
      for (const period of [this.calendar.periodOf('weekly', day.start), this.calendar.periodOf('monthly', day.start)]) {
        longer.set(`${period.period}:${period.key}`, period);
      }
      await progress(`day ${day.key} rolled up (${counts.days}/${days.length})`, counts);
    }
    for (const period of longer.values()) {
      add(await this.write(period, await this.merged(period), isFinal(period, now), now));
      counts.periods += 1;
      await progress(`${period.period} ${period.key} merged from its days`, counts);
    }
    return counts;
  }

  /** Whether a day's rollup is stored and final (the job goes on from the first one that is not). */
  isFinal(day: CalendarPeriod, now: Date): boolean {
    return isFinal(day, now);
  }

  /** Every scope of a week or a month, merged from the daily rollups within it (distinct users: the union of the days' members). */
  private async merged(period: CalendarPeriod): Promise<RollupFigures[]> {
    const figures: RollupFigures[] = [];
    let group: RollupRecord[] = [];
    const flush = () => {
      const first = group[0];
      if (!first) return;
      const merged = mergeFigures(first.scope, first.scopeId, group);
      const users = countMembers(group);
      merged.metrics.activeUsers = users.active;
      merged.metrics.featureUsers = users.featureUsers;
      figures.push(merged);
      group = [];
    };
    for await (const day of this.repository.dailyWithin(period.start, period.end)) {
      if (group[0] && (group[0].scope !== day.scope || group[0].scopeId !== day.scopeId)) flush();
      group.push(day);
    }
    flush();
    return figures;
  }

  private async write(period: CalendarPeriod, figures: readonly RollupFigures[], final: boolean, now: Date): Promise<WriteCounts> {
    const stored = await this.repository.digests(period.period, period.start);
    const changed: RollupRecord[] = [];
    const kept = new Set<string>();
    for (const scope of figures) {
      const id = rollupId(period, scope.scope, scope.scopeId);
      kept.add(id);
      const content = {
        period: period.period,
        periodKey: period.key,
        periodStart: period.start,
        periodEnd: period.end,
        scope: scope.scope,
        scopeId: scope.scopeId,
        userId: scope.scope === 'user' ? scope.scopeId : null,
        metrics: scope.metrics,
        insights: scope.insights,
        sketches: scope.sketches,
        members: scope.members,
        final,
      };
      const digest = createHash('sha256').update(JSON.stringify(content)).digest('hex');
      if (stored.get(id) !== digest) changed.push({ _id: id, ...content, digest, generatedAt: now });
    }
    for (let start = 0; start < changed.length; start += WRITE_BATCH)
      await this.repository.replaceMany(changed.slice(start, start + WRITE_BATCH));
    const gone = [...stored.keys()].filter((id) => !kept.has(id));
    const removed = await this.repository.deleteByIds(gone);
    return { written: changed.length, unchanged: figures.length - changed.length, removed };
  }
}

/** `daily:2026-12-01:role:picker` */
function rollupId(period: CalendarPeriod, scope: Scope, scopeId: string): string {
  return `${period.period}:${period.key}:${scope}:${scopeId}`;
}

/** A period is final once it has ended and the sessions that began in it have been followed to their end. */
function isFinal(period: CalendarPeriod, now: Date): boolean {
  return now.getTime() >= period.end.getTime() + SESSION_LOOKAHEAD_MS;
}
