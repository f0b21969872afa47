import { createHash } from 'node:crypto';
import type {
  AttachmentFact,
  ConversationFact,
  ConversationLabel,
  FeedbackFact,
  MessageFact,
  QuestionTermsFact,
} from '../../common/analytics/analytics-facts.js';
import type { CalendarPeriod } from './calendar.js';
import { QuantileSketch } from './quantile-sketch.js';
import {
  Collected,
  Counters,
  FEATURES,
  Feature,
  GLOBAL_SCOPE_ID,
  HEATMAP_CELLS,
  RollupFigures,
  Scope,
  ScopeMembers,
  addAttachmentUse,
  addTokenUse,
  addUnanswered,
  assemble,
  emptyCounters,
  emptyFeatureCounts,
} from './rollup-figures.js';

/** A session ends after this long without activity. */
export const SESSION_GAP_MS = 30 * 60_000;
/** How far past midnight a session that started in the day is followed (a day is final only after it). */
export const SESSION_LOOKAHEAD_MS = 2 * 60 * 60_000;
/** Facts labelled with their conversation's role and agent per look-up. */
const LABEL_BATCH = 1000;
const CANCELLED = 'CANCELLED';
const NO_MATCH = 'no_match';
const NUMBER = /^\d+$/;

/** Where a day's facts come from (each module's service; feature usage from analytics' own store). */
export interface DayFactSources {
  messages(from: Date, to: Date): AsyncIterable<MessageFact>;
  questionTerms(from: Date, to: Date): AsyncIterable<QuestionTermsFact>;
  conversations(from: Date, to: Date): AsyncIterable<ConversationFact>;
  attachments(from: Date, to: Date): AsyncIterable<AttachmentFact>;
  feedback(from: Date, to: Date): AsyncIterable<FeedbackFact>;
  featureUsage(dayKey: string): AsyncIterable<{ userId: string; feature: Feature; count: number }>;
  labels(conversationIds: readonly string[]): Promise<Map<string, ConversationLabel>>;
}

export interface DayRollupOptions {
  day: CalendarPeriod;
  /** The day's instants → local hour (see AnalyticsCalendar.hourReader). */
  hourOf: (at: Date) => number;
  weekday: number;
  /** Facts after this are not read (today's rollup is computed up to now). */
  until: Date;
}

/** One scope's accumulating figures. */
class ScopeFigures {
  readonly counters: Counters = emptyCounters();
  readonly responseTime = new QuantileSketch();
  readonly timeToFirstToken = new QuantileSketch();
  readonly sessionDuration = new QuantileSketch();
  readonly heat = new Array<number>(HEATMAP_CELLS).fill(0);
  /** term → messages, and whether two users or more used it (a first user, then '' once a second one did). */
  readonly topics = new Map<string, { messages: number; firstUser: string }>();
  readonly unanswered = new Map<string, { key: string; count: number; sampleIds: string[] }>();
  readonly byModel = new Map<string, { agentKey: string; model: string; replies: number; prompt: number; completion: number }>();
  readonly byKind = new Map<string, { kind: string; count: number; bytes: number }>();
  readonly activeUsers = new Set<string>();

  constructor(
    readonly scope: Scope,
    readonly scopeId: string,
  ) {}
}

interface OpenSession {
  start: number;
  last: number;
  /** False for activity before the day (it only tells whether the day's first message continues a session). */
  counted: boolean;
  scopes: ScopeFigures[];
}

/** An unanswered reply waiting for its question's words (read in the second pass). */
interface PendingQuestion {
  questionId: string;
  scopes: ScopeFigures[];
}

/**
 * The figures of one day for every scope, from the stored facts: two passes over the day's
 * messages (the first without text, in time order, for counts, replies, tokens and sessions; the
 * second over the user messages' search terms, for topics and the words of unanswered questions),
 * then the day's conversations, attachments, ratings and feature use. A pure function of the
 * stored data: computing a day twice gives the same figures.
 */
export async function rollUpDay(sources: DayFactSources, options: DayRollupOptions): Promise<RollupFigures[]> {
  const { day } = options;
  const until = new Date(Math.min(options.until.getTime(), day.end.getTime() + SESSION_LOOKAHEAD_MS));
  const dayEnd = Math.min(day.end.getTime(), until.getTime());
  const scopes = new Map<string, ScopeFigures>();
  const labels = new Map<string, ConversationLabel | null>();
  const scopeOf = (scope: Scope, id: string): ScopeFigures => {
    const key = `${scope}\u0000${id}`;
    let figures = scopes.get(key);
    if (!figures) scopes.set(key, (figures = new ScopeFigures(scope, id)));
    return figures;
  };
  const global = scopeOf('global', GLOBAL_SCOPE_ID);
  const scopesFor = (userId: string, label: ConversationLabel | null | undefined, agentKey?: string | null): ScopeFigures[] => {
    const list = [scopeOf('user', userId), global];
    if (label) list.push(scopeOf('role', label.role));
    const agent = agentKey ?? label?.agentKey;
    if (agent) list.push(scopeOf('agent', agent));
    return list;
  };
  const labelled = async <T>(
    source: AsyncIterable<T>,
    conversationOf: (fact: T) => string,
    each: (fact: T, label: ConversationLabel | null) => void,
  ) => {
    let batch: T[] = [];
    const flush = async () => {
      const unknown = [...new Set(batch.map(conversationOf).filter((id) => !labels.has(id)))];
      if (unknown.length > 0) {
        const found = await sources.labels(unknown);
        for (const id of unknown) labels.set(id, found.get(id) ?? null);
      }
      for (const fact of batch) each(fact, labels.get(conversationOf(fact)) ?? null);
      batch = [];
    };
    for await (const fact of source) {
      batch.push(fact);
      if (batch.length >= LABEL_BATCH) await flush();
    }
    await flush();
  };

  // Pass 1: every message from half an hour before the day (does the first message continue a
  // session?) to the lookahead after it (how long do the day's last sessions last?).
  const sessions = new Map<string, OpenSession>();
  const lastQuestion = new Map<string, string>();
  const pending = new Map<string, PendingQuestion[]>();
  const closeSession = (session: OpenSession) => {
    if (!session.counted) return;
    for (const figures of session.scopes) {
      figures.counters.sessions += 1;
      figures.sessionDuration.add(session.last - session.start);
    }
  };
  await labelled(
    sources.messages(new Date(day.start.getTime() - SESSION_GAP_MS), until),
    (m) => m.conversationId,
    (m, label) => {
      const at = m.timestamp.getTime();
      const open = sessions.get(m.userId);
      const continues = open !== undefined && at - open.last <= SESSION_GAP_MS;
      if (at >= dayEnd) {
        // After the day: only the day's open sessions go on.
        if (continues && open.counted) open.last = at;
        else if (open) {
          closeSession(open);
          sessions.delete(m.userId);
        }
        return;
      }
      const inDay = at >= day.start.getTime();
      if (continues) open.last = at;
      else {
        if (open) closeSession(open);
        sessions.set(m.userId, { start: at, last: at, counted: inDay, scopes: scopesFor(m.userId, label, m.agentKey) });
      }
      if (m.type === 'user') lastQuestion.set(m.conversationId, m.id);
      if (!inDay) return;
      countMessage(m, scopesFor(m.userId, label, m.type === 'assistant' ? m.agentKey : null), options, lastQuestion, pending);
    },
  );
  for (const session of sessions.values()) closeSession(session);

  // Pass 2: the day's questions, their terms (topics) and the words of those left unanswered.
  await labelled(
    sources.questionTerms(day.start, new Date(dayEnd)),
    (q) => q.conversationId,
    (q, label) => {
      const words: string[] = [];
      const counted = scopesFor(q.userId, label).filter((figures) => figures.scope !== 'user');
      for (const term of q.terms) {
        if (!isTopic(term)) continue;
        if (!term.includes(' ')) words.push(term);
        for (const figures of counted) {
          const topic = figures.topics.get(term);
          if (!topic) figures.topics.set(term, { messages: 1, firstUser: q.userId });
          else {
            topic.messages += 1;
            if (topic.firstUser !== q.userId) topic.firstUser = '';
          }
        }
      }
      for (const waiting of pending.get(q.id) ?? []) {
        const key = questionKey(words);
        for (const figures of waiting.scopes) addUnanswered(figures.unanswered, key, 1, [q.id]);
      }
      pending.delete(q.id);
    },
  );

  const dayRange: [Date, Date] = [day.start, new Date(dayEnd)];
  await labelled(
    sources.conversations(...dayRange),
    (c) => c.id,
    (c) => {
      for (const figures of scopesFor(c.userId, { role: c.role, agentKey: c.agentKey })) figures.counters.conversationsStarted += 1;
    },
  );
  const featureUsers = new Map<Feature, Set<string>>(FEATURES.map((feature) => [feature, new Set<string>()]));
  await labelled(
    sources.attachments(...dayRange),
    (a) => a.conversationId,
    (a, label) => {
      featureUsers.get('attachments')!.add(a.userId);
      for (const figures of scopesFor(a.userId, label)) {
        figures.counters.attachments += 1;
        figures.counters.attachmentBytes += a.fileSize;
        addAttachmentUse(figures.byKind, a.fileType, 1, a.fileSize);
      }
    },
  );
  await labelled(
    sources.feedback(...dayRange),
    (f) => f.conversationId,
    (f, label) => {
      for (const figures of scopesFor(f.userId, label, f.agentKey)) {
        if (f.rating === 'up') figures.counters.up += 1;
        else figures.counters.down += 1;
        if (f.hasComment) figures.counters.comments += 1;
      }
    },
  );
  for await (const use of sources.featureUsage(day.key)) {
    featureUsers.get(use.feature)?.add(use.userId);
    for (const figures of [scopeOf('user', use.userId), global]) {
      if (use.feature === 'search') figures.counters.searches += use.count;
      else if (use.feature === 'export') figures.counters.exports += use.count;
      else if (use.feature === 'realtime') figures.counters.realtime += use.count;
    }
  }

  return [...scopes.values()].map((figures) => finish(figures, featureUsers));
}

function countMessage(
  m: MessageFact,
  scopes: ScopeFigures[],
  options: DayRollupOptions,
  lastQuestion: Map<string, string>,
  pending: Map<string, PendingQuestion[]>,
): void {
  for (const figures of scopes) {
    const c = figures.counters;
    if (m.type === 'user') {
      c.user += 1;
      figures.heat[options.weekday * 24 + options.hourOf(m.timestamp)]! += 1;
      figures.activeUsers.add(m.userId);
    } else if (m.type === 'system') c.system += 1;
    else {
      c.assistant += 1;
      c.prompt += m.promptTokens;
      c.completion += m.completionTokens;
      if (m.agentKey && (m.promptTokens > 0 || m.completionTokens > 0 || m.status === 'completed')) {
        addTokenUse(figures.byModel, {
          agentKey: m.agentKey,
          model: m.model ?? 'unknown',
          replies: 1,
          prompt: m.promptTokens,
          completion: m.completionTokens,
        });
      }
      if (m.status === 'completed') {
        c.completed += 1;
        if (m.processingTime !== null) figures.responseTime.add(m.processingTime);
        if (m.timeToFirstToken !== null) figures.timeToFirstToken.add(m.timeToFirstToken);
        if (m.finishReason === NO_MATCH) c.unanswered += 1;
      } else if (m.status === 'failed') {
        if (m.errorCode === CANCELLED) c.cancelled += 1;
        else {
          c.failed += 1;
          c.unanswered += 1;
        }
      }
    }
  }
  const unanswered =
    m.type === 'assistant' &&
    ((m.status === 'completed' && m.finishReason === NO_MATCH) || (m.status === 'failed' && m.errorCode !== CANCELLED));
  const questionId = unanswered ? lastQuestion.get(m.conversationId) : undefined;
  if (questionId) {
    const waiting = pending.get(questionId) ?? [];
    waiting.push({ questionId, scopes });
    pending.set(questionId, waiting);
  }
}

function finish(figures: ScopeFigures, featureUsers: Map<Feature, Set<string>>): RollupFigures {
  const active = [...figures.activeUsers].sort();
  const members: ScopeMembers = { active, attachments: [], search: [], export: [], realtime: [] };
  const counts = emptyFeatureCounts();
  for (const feature of FEATURES) {
    const users = featureUsers.get(feature)!;
    members[feature] = active.filter((userId) => users.has(userId));
    counts[feature] = members[feature].length;
  }
  const topics = new Map<string, number>();
  for (const [term, topic] of figures.topics) if (topic.firstUser === '') topics.set(term, topic.messages);
  const collected: Collected = {
    responseTime: figures.responseTime,
    timeToFirstToken: figures.timeToFirstToken,
    sessionDuration: figures.sessionDuration,
    heat: figures.heat,
    topics,
    unanswered: figures.unanswered,
    byModel: figures.byModel,
    byKind: figures.byKind,
    activeUsers: active.length,
    featureUsers: counts,
    members,
  };
  return assemble(figures.scope, figures.scopeId, figures.counters, collected);
}

/** Search terms worth showing as topics: words of three letters or more and word pairs, no bare numbers. */
function isTopic(term: string): boolean {
  const parts = term.split(' ');
  return parts.every((part) => !NUMBER.test(part)) && (parts.length > 1 || term.length >= 3);
}

/** The same question in other words order or forms ("short pick?" / "Short picks") gets the same key. */
export function questionKey(words: readonly string[]): string {
  const normal = [...new Set(words)].sort().join(' ');
  return createHash('sha256').update(normal).digest('hex').slice(0, 16);
}
