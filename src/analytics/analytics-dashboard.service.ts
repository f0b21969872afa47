import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AgentsService } from '../agents/agents.service.js';
import { ADMIN_ROLE, AuthenticatedUser, wmsRoles } from '../auth/authenticated-user.js';
import type { AppConfig } from '../common/config/app-config.js';
import { ResourceNotFoundException, ValidationFailedException } from '../common/errors/app-exceptions.js';
import { ErrorCode } from '../common/errors/error-codes.js';
import { FeedbackService } from '../feedback/feedback.service.js';
import { MessagesService } from '../messages/messages.service.js';
import { AnalyticsRepository, RollupRecord } from './analytics.repository.js';
import {
  AnalyticsFiguresDto,
  AnalyticsRangeQuery,
  DashboardDto,
  DashboardInsightsDto,
  DashboardQuery,
  MAX_RANGE_DAYS,
  SeriesPointDto,
  TimeseriesDto,
  TimeseriesMetric,
  TimeseriesQuery,
  UnansweredQuestionDto,
} from './dto/analytics.dto.js';
import { AnalyticsCalendar, CalendarPeriod, Period } from './rollup/calendar.js';
import {
  FEATURES,
  GLOBAL_SCOPE_ID,
  HEATMAP_CELLS,
  RollupFigures,
  Scope,
  countMembers,
  emptyFeatureCounts,
  mergeFigures,
  satisfactionOf,
} from './rollup/rollup-figures.js';

const DAY_MS = 86_400_000;
const DEFAULT_RANGE_DAYS = 30;
const COMMENTS_SHOWN = 20;
const AGENTS_SHOWN = 5;

/** A scope the caller asked for, resolved and allowed. */
export interface ResolvedScope {
  kind: Scope;
  id: string;
}

interface ResolvedRange {
  from: CalendarPeriod;
  to: CalendarPeriod;
}

/**
 * Reads the dashboard and time series from the rollups: totals of a date range merged from its
 * daily rollups (distinct users: the union of the days' members), series from the rollups of the chosen
 * granularity, insights from the same documents. Never from the raw messages: the cost of an
 * answer depends on the days in the range, not on the traffic in them.
 */
@Injectable()
export class AnalyticsDashboardService {
  private readonly supervisorRole: string;

  constructor(
    private readonly repository: AnalyticsRepository,
    private readonly calendar: AnalyticsCalendar,
    private readonly messages: MessagesService,
    private readonly feedback: FeedbackService,
    private readonly agents: AgentsService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.supervisorRole = config.get('analytics', { infer: true }).supervisorRole;
  }

  async dashboard(user: AuthenticatedUser, query: DashboardQuery): Promise<DashboardDto> {
    const scope = await this.resolveScope(user, query.scope);
    const range = this.resolveRange(query);
    const period = query.period ?? 'daily';
    const end = range.to.end;
    const [days, periods] = await Promise.all([
      this.repository.ofScope('daily', scope.kind, scope.id, range.from.start, end),
      period === 'daily'
        ? null
        : this.repository.ofScope(period, scope.kind, scope.id, this.calendar.periodOf(period, range.from.start).start, end),
    ]);
    const totals = mergeFigures(scope.kind, scope.id, days);
    const users = countMembers(days);
    totals.metrics.activeUsers = users.active;
    totals.metrics.featureUsers = users.featureUsers;

    const admin = user.roles.includes(ADMIN_ROLE);
    const insights: DashboardInsightsDto = {
      busiestHours: totals.insights.busiestHours,
      peakHour: peakOf(totals.insights.busiestHours),
      topics: totals.insights.topics.slice(0, 15),
      unansweredQuestions: await this.unansweredQuestions(totals),
      lowestSatisfactionAgents: await this.lowestSatisfactionAgents(scope, range),
      ...(admin ? { feedbackComments: await this.comments(scope, range) } : {}),
    };
    const generated = [...days, ...(periods ?? [])].map((record) => record.generatedAt.getTime());
    return {
      scope: { kind: scope.kind, id: scope.id },
      period,
      from: range.from.key,
      to: range.to.key,
      timeZone: this.calendar.timeZone,
      asOf: generated.length > 0 ? new Date(Math.max(...generated)).toISOString() : null,
      totals: figuresDto(totals),
      series: this.series(period, range, periods ?? days).map(toPoint),
      insights,
      availableScopes: await this.availableScopes(user),
    };
  }

  async timeseries(user: AuthenticatedUser, query: TimeseriesQuery): Promise<TimeseriesDto> {
    const scope = await this.resolveScope(user, query.scope);
    const range = this.resolveRange(query);
    const granularity = query.granularity ?? 'daily';
    const records = await this.repository.ofScope(
      granularity,
      scope.kind,
      scope.id,
      this.calendar.periodOf(granularity, range.from.start).start,
      range.to.end,
    );
    return {
      metric: query.metric,
      granularity,
      scope: { kind: scope.kind, id: scope.id },
      from: range.from.key,
      to: range.to.key,
      points: this.series(granularity, range, records).map(({ period, figures, final }) => ({
        period: period.key,
        start: period.start.toISOString(),
        value: valueOf(query.metric, figures),
        final,
      })),
    };
  }

  /** Every period of the range at this granularity, with its rollup or zeros where there was no activity. */
  private series(
    granularity: Period,
    range: ResolvedRange,
    records: readonly RollupRecord[],
  ): { period: CalendarPeriod; figures: RollupFigures; final: boolean }[] {
    const byKey = new Map(records.map((record) => [record.periodKey, record]));
    const now = new Date();
    return [...this.calendar.periodsBetween(granularity, range.from.start, range.to.start)].map((period) => {
      const record = byKey.get(period.key);
      const figures = record
        ? { ...mergeFigures(record.scope, record.scopeId, [record]), metrics: record.metrics }
        : mergeFigures('global', GLOBAL_SCOPE_ID, []);
      return { period, figures, final: record?.final ?? period.end.getTime() <= now.getTime() };
    });
  }

  /** The scope asked for, if the caller may see it; 404 otherwise (whether or not it has data). */
  async resolveScope(user: AuthenticatedUser, asked: string | undefined): Promise<ResolvedScope> {
    const text = asked ?? 'me';
    if (text === 'me') return { kind: 'user', id: user.id };
    const admin = user.roles.includes(ADMIN_ROLE);
    if (text === 'global') {
      if (admin) return { kind: 'global', id: GLOBAL_SCOPE_ID };
      throw scopeNotFound(text);
    }
    const colon = text.indexOf(':');
    const kind = text.slice(0, colon) as Exclude<Scope, 'global'>;
    const id = text.slice(colon + 1);
    if (admin) return { kind, id };
    if (kind === 'user' && id === user.id) return { kind, id };
    if (this.isSupervisor(user)) {
      if (kind === 'role' && wmsRoles(user).includes(id)) return { kind, id };
      if (kind === 'agent' && (await this.supervisedAgents(user)).has(id)) return { kind, id };
    }
    throw scopeNotFound(text);
  }

  private resolveRange(query: AnalyticsRangeQuery): ResolvedRange {
    const today = this.calendar.periodOf('daily', new Date());
    const to = query.to === undefined ? today : this.calendar.day(query.to);
    if (!to) throw badRange('to', `to is not a date: ${query.to}`);
    const from =
      query.from === undefined
        ? this.calendar.periodOf('daily', new Date(to.start.getTime() - (DEFAULT_RANGE_DAYS - 1) * DAY_MS + DAY_MS / 2))
        : this.calendar.day(query.from);
    if (!from) throw badRange('from', `from is not a date: ${query.from}`);
    if (from.start > to.start) throw badRange('from', 'from must not be after to');
    if ((to.start.getTime() - from.start.getTime()) / DAY_MS + 1 > MAX_RANGE_DAYS + 1)
      throw badRange('from', `a range covers at most ${MAX_RANGE_DAYS} days`);
    return { from, to };
  }

  private isSupervisor(user: AuthenticatedUser): boolean {
    return user.roles.includes(this.supervisorRole);
  }

  /** Agents that serve one of the supervisor's WMS roles (or every role). */
  private async supervisedAgents(user: AuthenticatedUser): Promise<Set<string>> {
    const roles = new Set(wmsRoles(user));
    const agents = await this.agents.listAll();
    return new Set(
      agents
        .filter((agent) => agent.allowedRoles.length === 0 || agent.allowedRoles.some((role) => roles.has(role)))
        .map((agent) => agent.key),
    );
  }

  private async availableScopes(user: AuthenticatedUser): Promise<string[]> {
    const scopes = ['me'];
    if (user.roles.includes(ADMIN_ROLE)) {
      const now = new Date();
      const since = new Date(now.getTime() - MAX_RANGE_DAYS * DAY_MS);
      const [roles, agents] = await Promise.all([
        this.repository.scopeIds('role', since, now),
        this.repository.scopeIds('agent', since, now),
      ]);
      return [...scopes, 'global', ...roles.map((role) => `role:${role}`), ...agents.map((agent) => `agent:${agent}`)];
    }
    if (this.isSupervisor(user)) {
      scopes.push(...wmsRoles(user).map((role) => `role:${role}`));
      scopes.push(...[...(await this.supervisedAgents(user))].sort().map((agent) => `agent:${agent}`));
    }
    return scopes;
  }

  /** The texts of the most frequent unanswered questions, read now (a deleted or erased message is never shown). */
  private async unansweredQuestions(totals: RollupFigures): Promise<UnansweredQuestionDto[]> {
    const questions = totals.insights.unanswered.slice(0, 10);
    const texts = new Map(
      (await this.messages.questionTexts(questions.flatMap((question) => question.sampleIds))).map((found) => [found.id, found.content]),
    );
    return questions.map((question) => ({
      text: question.sampleIds.map((id) => texts.get(id)).find((text) => text !== undefined) ?? null,
      count: question.count,
    }));
  }

  /** Agents with ratings in the range, lowest satisfaction first: all of them (global), or those serving the role. */
  private async lowestSatisfactionAgents(
    scope: ResolvedScope,
    range: ResolvedRange,
  ): Promise<DashboardInsightsDto['lowestSatisfactionAgents']> {
    if (scope.kind !== 'global' && scope.kind !== 'role') return [];
    let agents = await this.repository.scopeIds('agent', range.from.start, range.to.end);
    if (scope.kind === 'role') {
      const serving = await this.agents.listAll();
      const keys = new Set(
        serving.filter((agent) => agent.allowedRoles.length === 0 || agent.allowedRoles.includes(scope.id)).map((agent) => agent.key),
      );
      agents = agents.filter((key) => keys.has(key));
    }
    const rated = [];
    for (const agentKey of agents) {
      const days = await this.repository.ofScope('daily', 'agent', agentKey, range.from.start, range.to.end);
      const up = days.reduce((sum, day) => sum + day.metrics.feedback.up, 0);
      const down = days.reduce((sum, day) => sum + day.metrics.feedback.down, 0);
      if (up + down > 0) rated.push({ agentKey, up, down, satisfactionScore: satisfactionOf({ up, down }) });
    }
    return rated.sort((a, b) => (a.satisfactionScore ?? 0) - (b.satisfactionScore ?? 0) || b.down - a.down).slice(0, AGENTS_SHOWN);
  }

  /** Admins only: the newest comments of the scope in the range (read from the ratings, so erased ones are gone). */
  private async comments(scope: ResolvedScope, range: ResolvedRange): Promise<DashboardInsightsDto['feedbackComments']> {
    const filter = scope.kind === 'user' ? { userId: scope.id } : scope.kind === 'agent' ? { agentKey: scope.id } : {};
    if (scope.kind === 'role') return [];
    const comments = await this.feedback.commentsBetween(range.from.start, range.to.end, filter, COMMENTS_SHOWN);
    return comments.map((comment) => ({ ...comment, createdAt: comment.createdAt.toISOString() }));
  }
}

function figuresDto(figures: RollupFigures): AnalyticsFiguresDto {
  const m = figures.metrics;
  const adoption = emptyFeatureCounts();
  for (const feature of FEATURES)
    adoption[feature] = m.activeUsers === 0 ? 0 : Math.round((m.featureUsers[feature] / m.activeUsers) * 1000) / 10;
  return { ...m, satisfactionScore: figures.insights.satisfactionScore, featureAdoption: adoption };
}

function toPoint({ period, figures, final }: { period: CalendarPeriod; figures: RollupFigures; final: boolean }): SeriesPointDto {
  const m = figures.metrics;
  return {
    period: period.key,
    start: period.start.toISOString(),
    final,
    messages: m.messages.total,
    userMessages: m.messages.user,
    conversationsStarted: m.conversationsStarted,
    activeUsers: m.activeUsers,
    sessions: m.sessions.count,
    responseTimeMs: m.responseTimeMs,
    timeToFirstTokenMs: m.timeToFirstTokenMs,
    failedReplies: m.replies.failed,
    unansweredReplies: m.replies.unanswered,
    promptTokens: m.tokens.prompt,
    completionTokens: m.tokens.completion,
    satisfactionScore: satisfactionOf(m.feedback),
  };
}

function valueOf(metric: TimeseriesMetric, figures: RollupFigures): number | null {
  const m = figures.metrics;
  switch (metric) {
    case 'messages':
      return m.messages.total;
    case 'userMessages':
      return m.messages.user;
    case 'assistantMessages':
      return m.messages.assistant;
    case 'conversationsStarted':
      return m.conversationsStarted;
    case 'activeUsers':
      return m.activeUsers;
    case 'sessions':
      return m.sessions.count;
    case 'sessionDurationP50':
      return m.sessions.durationMs.p50;
    case 'responseTimeMean':
      return m.responseTimeMs.mean === null ? null : Math.round(m.responseTimeMs.mean * 10) / 10;
    case 'responseTimeP50':
      return m.responseTimeMs.p50;
    case 'responseTimeP95':
      return m.responseTimeMs.p95;
    case 'responseTimeP99':
      return m.responseTimeMs.p99;
    case 'timeToFirstTokenP50':
      return m.timeToFirstTokenMs.p50;
    case 'timeToFirstTokenP95':
      return m.timeToFirstTokenMs.p95;
    case 'failedReplies':
      return m.replies.failed;
    case 'cancelledReplies':
      return m.replies.cancelled;
    case 'unansweredReplies':
      return m.replies.unanswered;
    case 'promptTokens':
      return m.tokens.prompt;
    case 'completionTokens':
      return m.tokens.completion;
    case 'attachments':
      return m.attachments.count;
    case 'attachmentBytes':
      return m.attachments.bytes;
    case 'searches':
      return m.searches;
    case 'exports':
      return m.exports;
    case 'feedbackUp':
      return m.feedback.up;
    case 'feedbackDown':
      return m.feedback.down;
    case 'satisfaction':
      return satisfactionOf(m.feedback);
  }
}

function peakOf(cells: readonly number[]): DashboardInsightsDto['peakHour'] {
  let best = -1;
  for (let cell = 0; cell < HEATMAP_CELLS; cell++) if ((cells[cell] ?? 0) > (best < 0 ? 0 : cells[best]!)) best = cell;
  return best < 0 ? null : { weekday: Math.floor(best / 24), hour: best % 24, messages: cells[best]! };
}

function scopeNotFound(scope: string): ResourceNotFoundException {
  return new ResourceNotFoundException(ErrorCode.ANALYTICS_SCOPE_NOT_FOUND, `No analytics scope ${scope} for you`);
}

function badRange(field: 'from' | 'to', message: string): ValidationFailedException {
  return ValidationFailedException.forField(field, message);
}
