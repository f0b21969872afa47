import { QuantileSketch, StoredSketch, type SketchSummary } from './quantile-sketch.js';

export const SCOPES = ['user', 'role', 'agent', 'global'] as const;
export type Scope = (typeof SCOPES)[number];
/** The scope id of the global scope. */
export const GLOBAL_SCOPE_ID = '*';

export const FEATURES = ['attachments', 'search', 'export', 'realtime'] as const;
export type Feature = (typeof FEATURES)[number];

/** Weekday × hour cells of the busiest-hours heat map: index = weekday (0 = Monday) × 24 + hour. */
export const HEATMAP_CELLS = 7 * 24;
/** Topics and unanswered questions kept per rollup document. */
export const TOP_TOPICS = 30;
export const TOP_UNANSWERED = 20;
/** Message ids kept per unanswered question, to show its text (read when the dashboard is shown). */
export const UNANSWERED_SAMPLES = 3;

export interface TokenUse {
  agentKey: string;
  model: string;
  replies: number;
  prompt: number;
  completion: number;
}

export interface AttachmentUse {
  kind: string;
  count: number;
  bytes: number;
}

/** The additive figures of one scope over one period. */
export interface RollupMetrics {
  conversationsStarted: number;
  messages: { user: number; assistant: number; system: number; total: number };
  /** Distinct users who sent a message (in this scope's conversations). */
  activeUsers: number;
  sessions: { count: number; durationMs: SketchSummary };
  /** Processing time of completed assistant replies. */
  responseTimeMs: SketchSummary;
  timeToFirstTokenMs: SketchSummary;
  replies: { completed: number; failed: number; cancelled: number; unanswered: number };
  tokens: { prompt: number; completion: number; total: number; byModel: TokenUse[] };
  attachments: { count: number; bytes: number; byKind: AttachmentUse[] };
  /** Searches, conversation exports and realtime connections (user and global scopes). */
  searches: number;
  exports: number;
  realtimeConnections: number;
  feedback: { up: number; down: number; comments: number };
  /** Of the active users, how many used each feature. */
  featureUsers: Record<Feature, number>;
}

/** The sketches behind the percentiles, kept so periods merge exactly. */
export interface RollupSketches {
  responseTime: StoredSketch;
  timeToFirstToken: StoredSketch;
  sessionDuration: StoredSketch;
}

export interface Topic {
  term: string;
  messages: number;
}

export interface UnansweredQuestion {
  /** A hash of the question's words (order and form aside). */
  key: string;
  count: number;
  sampleIds: string[];
}

export interface RollupInsights {
  /** User messages per weekday × hour (see HEATMAP_CELLS). */
  busiestHours: number[];
  /** Most used search terms, stop words out; in role, agent and global scopes only terms of two users or more. */
  topics: Topic[];
  unanswered: UnansweredQuestion[];
  /** Share of up ratings, 0–100; null without ratings. */
  satisfactionScore: number | null;
}

/**
 * Who the distinct counts of a day are made of (daily rollups only): the active users, and of them
 * those who used each feature. Longer periods and date ranges count the union of their days.
 */
export interface ScopeMembers {
  active: string[];
  attachments: string[];
  search: string[];
  export: string[];
  realtime: string[];
}

/** One scope's figures for one period, before it is stored. */
export interface RollupFigures {
  scope: Scope;
  scopeId: string;
  metrics: RollupMetrics;
  sketches: RollupSketches;
  insights: RollupInsights;
  members: ScopeMembers | null;
}

export function satisfactionOf(feedback: { up: number; down: number }): number | null {
  const rated = feedback.up + feedback.down;
  return rated === 0 ? null : Math.round((feedback.up / rated) * 1000) / 10;
}

export function emptyFeatureCounts(): Record<Feature, number> {
  return { attachments: 0, search: 0, export: 0, realtime: 0 };
}

/**
 * Adds up the figures of several periods of one scope (days into a week, a month or a date
 * range): counters add, sketches merge, top lists re-rank. Distinct user counts do not add up
 * across days: the caller sets activeUsers and featureUsers from the days' members (countMembers).
 */
export function mergeFigures(
  scope: Scope,
  scopeId: string,
  parts: readonly Pick<RollupFigures, 'metrics' | 'sketches' | 'insights'>[],
): RollupFigures {
  const responseTime = new QuantileSketch();
  const timeToFirstToken = new QuantileSketch();
  const sessionDuration = new QuantileSketch();
  const heat = new Array<number>(HEATMAP_CELLS).fill(0);
  const topics = new Map<string, number>();
  const unanswered = new Map<string, UnansweredQuestion>();
  const byModel = new Map<string, TokenUse>();
  const byKind = new Map<string, AttachmentUse>();
  const m = emptyCounters();
  for (const part of parts) {
    const p = part.metrics;
    m.conversationsStarted += p.conversationsStarted;
    m.user += p.messages.user;
    m.assistant += p.messages.assistant;
    m.system += p.messages.system;
    m.sessions += p.sessions.count;
    m.completed += p.replies.completed;
    m.failed += p.replies.failed;
    m.cancelled += p.replies.cancelled;
    m.unanswered += p.replies.unanswered;
    m.prompt += p.tokens.prompt;
    m.completion += p.tokens.completion;
    m.attachments += p.attachments.count;
    m.attachmentBytes += p.attachments.bytes;
    m.searches += p.searches;
    m.exports += p.exports;
    m.realtime += p.realtimeConnections;
    m.up += p.feedback.up;
    m.down += p.feedback.down;
    m.comments += p.feedback.comments;
    responseTime.merge(part.sketches.responseTime);
    timeToFirstToken.merge(part.sketches.timeToFirstToken);
    sessionDuration.merge(part.sketches.sessionDuration);
    for (const use of p.tokens.byModel) addTokenUse(byModel, use);
    for (const use of p.attachments.byKind) addAttachmentUse(byKind, use.kind, use.count, use.bytes);
    part.insights.busiestHours.forEach((count, cell) => (heat[cell] = (heat[cell] ?? 0) + count));
    for (const topic of part.insights.topics) topics.set(topic.term, (topics.get(topic.term) ?? 0) + topic.messages);
    for (const question of part.insights.unanswered) addUnanswered(unanswered, question.key, question.count, question.sampleIds);
  }
  return assemble(scope, scopeId, m, {
    responseTime,
    timeToFirstToken,
    sessionDuration,
    heat,
    topics,
    unanswered,
    byModel,
    byKind,
    activeUsers: 0,
    featureUsers: emptyFeatureCounts(),
    members: null,
  });
}

/** The counters of one scope while figures are added up. */
export interface Counters {
  conversationsStarted: number;
  user: number;
  assistant: number;
  system: number;
  sessions: number;
  completed: number;
  failed: number;
  cancelled: number;
  unanswered: number;
  prompt: number;
  completion: number;
  attachments: number;
  attachmentBytes: number;
  searches: number;
  exports: number;
  realtime: number;
  up: number;
  down: number;
  comments: number;
}

export function emptyCounters(): Counters {
  return {
    conversationsStarted: 0,
    user: 0,
    assistant: 0,
    system: 0,
    sessions: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    unanswered: 0,
    prompt: 0,
    completion: 0,
    attachments: 0,
    attachmentBytes: 0,
    searches: 0,
    exports: 0,
    realtime: 0,
    up: 0,
    down: 0,
    comments: 0,
  };
}

export interface Collected {
  responseTime: QuantileSketch;
  timeToFirstToken: QuantileSketch;
  sessionDuration: QuantileSketch;
  heat: number[];
  topics: Map<string, number>;
  unanswered: Map<string, UnansweredQuestion>;
  byModel: Map<string, TokenUse>;
  byKind: Map<string, AttachmentUse>;
  activeUsers: number;
  featureUsers: Record<Feature, number>;
  members: ScopeMembers | null;
}

/** Builds the stored figures from counters and collections; lists are sorted so equal inputs give equal documents. */
export function assemble(scope: Scope, scopeId: string, m: Counters, c: Collected): RollupFigures {
  const feedback = { up: m.up, down: m.down, comments: m.comments };
  return {
    scope,
    scopeId,
    metrics: {
      conversationsStarted: m.conversationsStarted,
      messages: { user: m.user, assistant: m.assistant, system: m.system, total: m.user + m.assistant + m.system },
      activeUsers: c.activeUsers,
      sessions: { count: m.sessions, durationMs: c.sessionDuration.summary() },
      responseTimeMs: c.responseTime.summary(),
      timeToFirstTokenMs: c.timeToFirstToken.summary(),
      replies: { completed: m.completed, failed: m.failed, cancelled: m.cancelled, unanswered: m.unanswered },
      tokens: {
        prompt: m.prompt,
        completion: m.completion,
        total: m.prompt + m.completion,
        byModel: [...c.byModel.values()].sort(
          (a, b) => b.prompt + b.completion - (a.prompt + a.completion) || compareText(a.agentKey + a.model, b.agentKey + b.model),
        ),
      },
      attachments: {
        count: m.attachments,
        bytes: m.attachmentBytes,
        byKind: [...c.byKind.values()].sort((a, b) => compareText(a.kind, b.kind)),
      },
      searches: m.searches,
      exports: m.exports,
      realtimeConnections: m.realtime,
      feedback,
      featureUsers: c.featureUsers,
    },
    sketches: {
      responseTime: c.responseTime.toStored(),
      timeToFirstToken: c.timeToFirstToken.toStored(),
      sessionDuration: c.sessionDuration.toStored(),
    },
    insights: {
      busiestHours: c.heat,
      topics: [...c.topics.entries()]
        .sort((a, b) => b[1] - a[1] || compareText(a[0], b[0]))
        .slice(0, TOP_TOPICS)
        .map(([term, messages]) => ({ term, messages })),
      unanswered: [...c.unanswered.values()].sort((a, b) => b.count - a.count || compareText(a.key, b.key)).slice(0, TOP_UNANSWERED),
      satisfactionScore: satisfactionOf(feedback),
    },
    members: c.members,
  };
}

export function addTokenUse(into: Map<string, TokenUse>, use: TokenUse): void {
  const key = `${use.agentKey}\u0000${use.model}`;
  const current = into.get(key) ?? { agentKey: use.agentKey, model: use.model, replies: 0, prompt: 0, completion: 0 };
  current.replies += use.replies;
  current.prompt += use.prompt;
  current.completion += use.completion;
  into.set(key, current);
}

export function addAttachmentUse(into: Map<string, AttachmentUse>, kind: string, count: number, bytes: number): void {
  const current = into.get(kind) ?? { kind, count: 0, bytes: 0 };
  current.count += count;
  current.bytes += bytes;
  into.set(kind, current);
}

export function addUnanswered(into: Map<string, UnansweredQuestion>, key: string, count: number, sampleIds: readonly string[]): void {
  const current = into.get(key) ?? { key, count: 0, sampleIds: [] };
  current.count += count;
  for (const id of sampleIds)
    if (current.sampleIds.length < UNANSWERED_SAMPLES && !current.sampleIds.includes(id)) current.sampleIds.push(id);
  into.set(key, current);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Distinct users over several days of one scope: the union of the days' members. */
export function countMembers(days: readonly { members?: ScopeMembers | null }[]): {
  active: number;
  featureUsers: Record<Feature, number>;
} {
  const active = new Set<string>();
  const users = new Map<Feature, Set<string>>(FEATURES.map((feature) => [feature, new Set<string>()]));
  for (const day of days) {
    if (!day.members) continue;
    for (const id of day.members.active) active.add(id);
    for (const feature of FEATURES) for (const id of day.members[feature]) users.get(feature)!.add(id);
  }
  const featureUsers = emptyFeatureCounts();
  for (const feature of FEATURES) featureUsers[feature] = users.get(feature)!.size;
  return { active: active.size, featureUsers };
}
