import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Matches } from 'class-validator';
import { PERIODS, type Period } from '../rollup/calendar.js';
import { HEATMAP_CELLS } from '../rollup/rollup-figures.js';

/** `me`, `global`, `user:<id>`, `role:<role>` or `agent:<key>`. */
export const SCOPE_PATTERN =
  /^(me|global|user:[A-Za-z0-9_.@:|-]{1,128}|role:[a-z][a-z0-9_]{0,63}|agent:(?!admin$)[a-z0-9][a-z0-9-]{1,63})$/;
const DATE_PATTERN = /^\d{4}-\d{2}-\d{2}$/;
/** The longest date range one request covers. */
export const MAX_RANGE_DAYS = 731;

export const SCOPE_DESCRIPTION =
  'Whose figures: `me` (the default: the caller’s own), `user:<id>` (admins; anyone for their own id), `role:<role>` ' +
  '(admins; holders of CHAT_ANALYTICS_SUPERVISOR_ROLE for each WMS role they hold), `agent:<key>` (admins; supervisors for agents ' +
  'of their roles) or `global` (admins). A scope the caller may not see answers 404 ANALYTICS_SCOPE_NOT_FOUND, whether or not it has data.';
const RANGE_DESCRIPTION = `Dates (YYYY-MM-DD, in CHAT_ANALYTICS_TIMEZONE), both included; \`to\` defaults to today and \`from\` to 29 days before \`to\`. At most ${MAX_RANGE_DAYS} days; \`from\` after \`to\` is refused.`;

export const TIMESERIES_METRICS = [
  'messages',
  'userMessages',
  'assistantMessages',
  'conversationsStarted',
  'activeUsers',
  'sessions',
  'sessionDurationP50',
  'responseTimeMean',
  'responseTimeP50',
  'responseTimeP95',
  'responseTimeP99',
  'timeToFirstTokenP50',
  'timeToFirstTokenP95',
  'failedReplies',
  'cancelledReplies',
  'unansweredReplies',
  'promptTokens',
  'completionTokens',
  'attachments',
  'attachmentBytes',
  'searches',
  'exports',
  'feedbackUp',
  'feedbackDown',
  'satisfaction',
] as const;
export type TimeseriesMetric = (typeof TIMESERIES_METRICS)[number];

export class AnalyticsRangeQuery {
  @ApiPropertyOptional({ pattern: SCOPE_PATTERN.source, default: 'me', description: SCOPE_DESCRIPTION, example: 'role:picker' })
  @IsOptional()
  @IsString()
  @Matches(SCOPE_PATTERN, { message: 'scope must be me, global, user:<id>, role:<role> or agent:<key>' })
  scope?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date',
    pattern: DATE_PATTERN.source,
    example: '2026-11-01',
    description: RANGE_DESCRIPTION,
  })
  @IsOptional()
  @IsString()
  @Matches(DATE_PATTERN, { message: 'from must be a date as YYYY-MM-DD' })
  from?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date',
    pattern: DATE_PATTERN.source,
    example: '2026-11-30',
    description: RANGE_DESCRIPTION,
  })
  @IsOptional()
  @IsString()
  @Matches(DATE_PATTERN, { message: 'to must be a date as YYYY-MM-DD' })
  to?: string;
}

export class DashboardQuery extends AnalyticsRangeQuery {
  @ApiPropertyOptional({
    enum: PERIODS,
    default: 'daily',
    description: 'The granularity of the series: one point per day, ISO week or month.',
  })
  @IsOptional()
  @IsIn(PERIODS)
  period?: Period;
}

export class TimeseriesQuery extends AnalyticsRangeQuery {
  @ApiProperty({ enum: TIMESERIES_METRICS, description: 'The figure to chart (durations in milliseconds; satisfaction 0–100).' })
  @IsIn(TIMESERIES_METRICS)
  metric!: TimeseriesMetric;

  @ApiPropertyOptional({ enum: PERIODS, default: 'daily' })
  @IsOptional()
  @IsIn(PERIODS)
  granularity?: Period;

  @ApiPropertyOptional({
    enum: ['json', 'csv'],
    default: 'json',
    description: '`csv` answers text/csv (`period,start,value,final`) for BI tools.',
  })
  @IsOptional()
  @IsIn(['json', 'csv'])
  format?: 'json' | 'csv';
}

export class DurationSummaryDto {
  @ApiProperty({ minimum: 0, description: 'Values measured.' })
  count!: number;
  @ApiProperty({ type: Number, nullable: true, description: 'Milliseconds; null without values.' })
  mean!: number | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Within 1 % of the exact median.' })
  p50!: number | null;
  @ApiProperty({ type: Number, nullable: true })
  p95!: number | null;
  @ApiProperty({ type: Number, nullable: true })
  p99!: number | null;
  @ApiProperty({ type: Number, nullable: true })
  max!: number | null;
}

export class MessageCountsDto {
  @ApiProperty() user!: number;
  @ApiProperty() assistant!: number;
  @ApiProperty() system!: number;
  @ApiProperty() total!: number;
}

export class SessionsDto {
  @ApiProperty({ description: 'Runs of activity with no gap over 30 minutes, counted on the day they start.' })
  count!: number;
  @ApiProperty({ type: DurationSummaryDto })
  durationMs!: DurationSummaryDto;
}

export class RepliesDto {
  @ApiProperty() completed!: number;
  @ApiProperty({ description: 'Failed for a reason other than cancellation (timeouts, provider errors).' })
  failed!: number;
  @ApiProperty() cancelled!: number;
  @ApiProperty({ description: 'Failed replies plus playbook replies that found no answer.' })
  unanswered!: number;
}

export class TokenUseDto {
  @ApiProperty() agentKey!: string;
  @ApiProperty() model!: string;
  @ApiProperty() replies!: number;
  @ApiProperty() prompt!: number;
  @ApiProperty() completion!: number;
}

export class TokensDto {
  @ApiProperty() prompt!: number;
  @ApiProperty() completion!: number;
  @ApiProperty() total!: number;
  @ApiProperty({ type: [TokenUseDto], description: 'By agent and model, most tokens first.' })
  byModel!: TokenUseDto[];
}

export class AttachmentUseDto {
  @ApiProperty({ example: 'image' }) kind!: string;
  @ApiProperty() count!: number;
  @ApiProperty() bytes!: number;
}

export class AttachmentsUseDto {
  @ApiProperty() count!: number;
  @ApiProperty() bytes!: number;
  @ApiProperty({ type: [AttachmentUseDto] }) byKind!: AttachmentUseDto[];
}

export class FeedbackCountsDto {
  @ApiProperty() up!: number;
  @ApiProperty() down!: number;
  @ApiProperty({ description: 'Ratings that came with a comment.' }) comments!: number;
}

export class FeatureCountsDto {
  @ApiProperty() attachments!: number;
  @ApiProperty() search!: number;
  @ApiProperty() export!: number;
  @ApiProperty() realtime!: number;
}

export class AnalyticsFiguresDto {
  @ApiProperty() conversationsStarted!: number;
  @ApiProperty({ type: MessageCountsDto }) messages!: MessageCountsDto;
  @ApiProperty({ description: 'Distinct users who sent a message (in this scope’s conversations).' })
  activeUsers!: number;
  @ApiProperty({ type: SessionsDto }) sessions!: SessionsDto;
  @ApiProperty({ type: DurationSummaryDto, description: 'Processing time of completed assistant replies (ms).' })
  responseTimeMs!: DurationSummaryDto;
  @ApiProperty({ type: DurationSummaryDto, description: 'Time to the first streamed text of completed replies (ms).' })
  timeToFirstTokenMs!: DurationSummaryDto;
  @ApiProperty({ type: RepliesDto }) replies!: RepliesDto;
  @ApiProperty({ type: TokensDto }) tokens!: TokensDto;
  @ApiProperty({ type: AttachmentsUseDto }) attachments!: AttachmentsUseDto;
  @ApiProperty({ description: 'Searches started (further pages not counted); user and global scopes.' }) searches!: number;
  @ApiProperty({ description: 'Conversation exports downloaded; user and global scopes.' }) exports!: number;
  @ApiProperty({ description: 'Realtime connections opened; user and global scopes.' }) realtimeConnections!: number;
  @ApiProperty({ type: FeedbackCountsDto }) feedback!: FeedbackCountsDto;
  @ApiProperty({ type: Number, nullable: true, description: 'Share of up ratings, 0–100; null without ratings.' })
  satisfactionScore!: number | null;
  @ApiProperty({ type: FeatureCountsDto, description: 'Of the active users, how many used each feature on a day they were active.' })
  featureUsers!: FeatureCountsDto;
  @ApiProperty({ type: FeatureCountsDto, description: 'featureUsers as a share of activeUsers, 0–100 (0 without active users).' })
  featureAdoption!: FeatureCountsDto;
}

export class SeriesPointDto {
  @ApiProperty({ example: '2026-12-01', description: '`YYYY-MM-DD`, `YYYY-Www` (ISO week) or `YYYY-MM`.' })
  period!: string;
  @ApiProperty({ format: 'date-time' }) start!: string;
  @ApiProperty({ description: 'False while the period can still change (today, the current week or month).' }) final!: boolean;
  @ApiProperty() messages!: number;
  @ApiProperty() userMessages!: number;
  @ApiProperty() conversationsStarted!: number;
  @ApiProperty() activeUsers!: number;
  @ApiProperty() sessions!: number;
  @ApiProperty({ type: DurationSummaryDto }) responseTimeMs!: DurationSummaryDto;
  @ApiProperty({ type: DurationSummaryDto }) timeToFirstTokenMs!: DurationSummaryDto;
  @ApiProperty() failedReplies!: number;
  @ApiProperty() unansweredReplies!: number;
  @ApiProperty() promptTokens!: number;
  @ApiProperty() completionTokens!: number;
  @ApiProperty({ type: Number, nullable: true }) satisfactionScore!: number | null;
}

export class TopicDto {
  @ApiProperty({ example: 'short pick', description: 'A search term (word stem or word pair), stop words out.' }) term!: string;
  @ApiProperty({ description: 'Questions using it.' }) messages!: number;
}

export class UnansweredQuestionDto {
  @ApiProperty({ type: String, nullable: true, description: 'One wording of the question; null when every sample has since been deleted.' })
  text!: string | null;
  @ApiProperty({ description: 'Times it went unanswered in the range.' }) count!: number;
}

export class AgentSatisfactionDto {
  @ApiProperty() agentKey!: string;
  @ApiProperty() up!: number;
  @ApiProperty() down!: number;
  @ApiProperty({ type: Number, nullable: true }) satisfactionScore!: number | null;
}

export class PeakHourDto {
  @ApiProperty({ minimum: 0, maximum: 6, description: '0 = Monday … 6 = Sunday.' }) weekday!: number;
  @ApiProperty({ minimum: 0, maximum: 23 }) hour!: number;
  @ApiProperty() messages!: number;
}

export class FeedbackCommentDto {
  @ApiProperty({ enum: ['up', 'down'] }) rating!: 'up' | 'down';
  @ApiProperty() comment!: string;
  @ApiProperty({ type: String, nullable: true }) agentKey!: string | null;
  @ApiProperty() conversationId!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class DashboardInsightsDto {
  @ApiProperty({
    type: [Number],
    minItems: HEATMAP_CELLS,
    maxItems: HEATMAP_CELLS,
    description: 'User messages per weekday × hour (index = weekday × 24 + hour; weekday 0 = Monday; hours in CHAT_ANALYTICS_TIMEZONE).',
  })
  busiestHours!: number[];
  @ApiProperty({ type: PeakHourDto, nullable: true }) peakHour!: PeakHourDto | null;
  @ApiProperty({
    type: [TopicDto],
    description: 'In role, agent and global scopes only terms at least two users asked with on the same day.',
  })
  topics!: TopicDto[];
  @ApiProperty({
    type: [UnansweredQuestionDto],
    description: 'Questions whose reply failed or found nothing in the playbook, most frequent first.',
  })
  unansweredQuestions!: UnansweredQuestionDto[];
  @ApiProperty({ type: [AgentSatisfactionDto], description: 'Agents with ratings, lowest satisfaction first (global and role scopes).' })
  lowestSatisfactionAgents!: AgentSatisfactionDto[];
  @ApiPropertyOptional({ type: [FeedbackCommentDto], description: 'Admins only: the newest comments given with ratings in the range.' })
  feedbackComments?: FeedbackCommentDto[];
}

export class ScopeDto {
  @ApiProperty({ enum: ['user', 'role', 'agent', 'global'] }) kind!: string;
  @ApiProperty({ example: 'picker', description: 'The user id, role or agent key; `*` for global.' }) id!: string;
}

export class DashboardDto {
  @ApiProperty({ type: ScopeDto }) scope!: ScopeDto;
  @ApiProperty({ enum: PERIODS }) period!: Period;
  @ApiProperty({ example: '2026-11-01' }) from!: string;
  @ApiProperty({ example: '2026-11-30' }) to!: string;
  @ApiProperty({ example: 'UTC' }) timeZone!: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When the newest rollup read was computed (today is brought up to date every CHAT_ANALYTICS_CRON run).',
  })
  asOf!: string | null;
  @ApiProperty({ type: AnalyticsFiguresDto, description: 'The whole range.' }) totals!: AnalyticsFiguresDto;
  @ApiProperty({
    type: [SeriesPointDto],
    description: 'One point per period of the range, oldest first; periods without activity are zeros.',
  })
  series!: SeriesPointDto[];
  @ApiProperty({ type: DashboardInsightsDto }) insights!: DashboardInsightsDto;
  @ApiProperty({ type: [String], description: 'Scopes the caller may ask for (for a scope picker).' }) availableScopes!: string[];
}

export class TimeseriesPointDto {
  @ApiProperty({ example: '2026-12-01' }) period!: string;
  @ApiProperty({ format: 'date-time' }) start!: string;
  @ApiProperty({ type: Number, nullable: true, description: 'Null where the figure has no value (a percentile without replies).' }) value!:
    number | null;
  @ApiProperty() final!: boolean;
}

export class TimeseriesDto {
  @ApiProperty({ enum: TIMESERIES_METRICS }) metric!: TimeseriesMetric;
  @ApiProperty({ enum: PERIODS }) granularity!: Period;
  @ApiProperty({ type: ScopeDto }) scope!: ScopeDto;
  @ApiProperty() from!: string;
  @ApiProperty() to!: string;
  @ApiProperty({ type: [TimeseriesPointDto] }) points!: TimeseriesPointDto[];
}

export class RollupRunDto {
  @ApiProperty({ enum: ['succeeded', 'failed', 'skipped'] }) status!: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer', minimum: 0 },
    example: { days: 2, periods: 2, written: 40, unchanged: 3, removed: 0 },
  })
  counts!: Record<string, number>;
  @ApiProperty({ type: String, nullable: true }) error!: string | null;
}
