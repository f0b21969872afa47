import { existsSync } from 'node:fs';
import { AnalyticsRollupJob } from '../../src/analytics/analytics-rollup.job.js';
import { JobScheduler } from '../../src/jobs/job-scheduler.service.js';
import { SeededHistory, SeededMessage, exactQuantile, seedHistory, sessionsOf } from '../support/analytics-seed.js';
import { runCli } from '../support/cli.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const ROLLUP_CLI = 'dist/src/analytics/analytics-rollup.cli.js';
/** Fires once a year (1 January, 00:00): never during a test. */
const NEVER = '0 0 1 1 *';
const API = '/api/v1/chat';
const ANALYTICS = `${API}/analytics`;
const DAY = 86_400_000;
const USERS = [
  { id: 'alice', role: 'picker', agentKey: 'picking-assistant' },
  { id: 'bob', role: 'picker', agentKey: 'picking-assistant' },
  { id: 'carol', role: 'receiver', agentKey: 'receiving-assistant' },
];

/** Monday and Tuesday of the week two weeks back (UTC): closed, final days of one ISO week. */
function seededDays(): Date[] {
  const today = new Date(new Date().toISOString().slice(0, 10));
  const monday = today.getTime() - ((today.getUTCDay() + 6) % 7) * DAY - 14 * DAY;
  return [new Date(monday), new Date(monday + DAY)];
}

function within(actual: number | null, exact: number | null): void {
  expect(actual).not.toBeNull();
  expect(Math.abs(actual! - exact!)).toBeLessThanOrEqual(exact! * 0.01 + 0.1);
}

describe('Analytics rollups and dashboard', () => {
  let t: TestApp;
  let history: SeededHistory;
  const days = seededDays();
  const dayKey = (day: Date) => day.toISOString().slice(0, 10);
  const admin = () => t.auth('root', ['admin']);

  beforeAll(async () => {
    // Rollups here run when the test asks: a scheduled tick (every 15 minutes by the clock) would
    // keep the lease for its cooldown, and the command-line run below would be skipped.
    t = await startTestApp({ CHAT_RATE_LIMIT_PER_MINUTE: '1000', CHAT_ANALYTICS_CRON: NEVER });
    history = await seedHistory(t.db, USERS, days);
    const run = await t.http().post(`${ANALYTICS}/rollup`).set(admin()).expect(200);
    expect(run.body).toMatchObject({ status: 'succeeded', error: null });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** The seeded messages of a day, optionally of one user or role. */
  function messagesOf(day: Date, filter: (message: SeededMessage) => boolean = () => true): SeededMessage[] {
    return history.messages.filter(
      (m) => m.timestamp.getTime() >= day.getTime() && m.timestamp.getTime() < day.getTime() + DAY && filter(m),
    );
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- stored documents, checked field by field below
  async function rollup(id: string): Promise<Record<string, any>> {
    const found = await t.db.collection('chat_analytics').findOne({ _id: id as never });
    expect(found).not.toBeNull();
    return found!;
  }

  it('rolls up a day of every scope to the figures computed from the seeded history', async () => {
    const [day] = days;
    for (const [scope, filter] of [
      ['global:*', () => true],
      ['role:picker', (m: SeededMessage) => m.role === 'picker'],
      ['agent:receiving-assistant', (m: SeededMessage) => m.agentKey === 'receiving-assistant'],
      ['user:alice', (m: SeededMessage) => m.userId === 'alice'],
    ] as const) {
      const doc = await rollup(`daily:${dayKey(day!)}:${scope}`);
      const messages = messagesOf(day!, filter);
      const replies = messages.filter((m) => m.type === 'assistant');
      const completed = replies.filter((m) => m.status === 'completed');
      const failed = replies.filter((m) => m.status === 'failed' && m.errorCode !== 'CANCELLED');
      const noMatch = completed.filter((m) => m.finishReason === 'no_match');
      expect(doc.metrics.messages).toEqual({
        user: messages.length - replies.length,
        assistant: replies.length,
        system: 0,
        total: messages.length,
      });
      expect(doc.metrics.activeUsers).toBe(new Set(messages.map((m) => m.userId)).size);
      expect(doc.metrics.replies).toEqual({
        completed: completed.length,
        failed: failed.length,
        cancelled: replies.length - completed.length - failed.length,
        unanswered: failed.length + noMatch.length,
      });
      const times = completed.map((m) => m.processingTime!);
      expect(doc.metrics.responseTimeMs.count).toBe(times.length);
      expect(doc.metrics.responseTimeMs.mean).toBeCloseTo(times.reduce((a, b) => a + b, 0) / times.length, 6);
      for (const [q, key] of [
        [0.5, 'p50'],
        [0.95, 'p95'],
        [0.99, 'p99'],
      ] as const)
        within(doc.metrics.responseTimeMs[key], exactQuantile(times, q));
      within(
        doc.metrics.timeToFirstTokenMs.p50,
        exactQuantile(
          completed.map((m) => m.timeToFirstToken!),
          0.5,
        ),
      );
      expect(doc.metrics.tokens.prompt).toBe(replies.reduce((sum, m) => sum + m.prompt, 0));
      expect(doc.metrics.tokens.completion).toBe(replies.reduce((sum, m) => sum + m.completion, 0));

      const users = [...new Set(messages.map((m) => m.userId))];
      const sessions = users.map((user) =>
        sessionsOf(
          messagesOf(day!, (m) => m.userId === user).map((m) => m.timestamp.getTime()),
          day!.getTime(),
          day!.getTime() + DAY,
        ),
      );
      expect(doc.metrics.sessions.count).toBe(sessions.reduce((sum, s) => sum + s.count, 0));
      within(
        doc.metrics.sessions.durationMs.p50,
        exactQuantile(
          sessions.flatMap((s) => s.durations),
          0.5,
        ),
      );

      const inDay = (at: Date) => at.getTime() >= day!.getTime() && at.getTime() < day!.getTime() + DAY;
      const owned = (entry: { conversationId: SeededMessage['conversationId'] }) =>
        messages.some((m) => m.conversationId.equals(entry.conversationId));
      const ratings = history.feedback.filter((f) => inDay(f.createdAt) && owned(f));
      expect(doc.metrics.feedback).toEqual({
        up: ratings.filter((f) => f.rating === 'up').length,
        down: ratings.filter((f) => f.rating === 'down').length,
        comments: ratings.filter((f) => f.comment).length,
      });
      const rated = ratings.length;
      expect(doc.insights.satisfactionScore).toBe(
        rated === 0 ? null : Math.round((ratings.filter((f) => f.rating === 'up').length / rated) * 1000) / 10,
      );
      const files = history.attachments.filter((a) => inDay(a.createdAt) && owned(a));
      expect(doc.metrics.attachments.count).toBe(files.length);
      expect(doc.metrics.attachments.bytes).toBe(files.reduce((sum, a) => sum + a.fileSize, 0));
      expect(doc.metrics.conversationsStarted).toBe(
        history.conversations.filter((c) => inDay(c.createdAt) && messages.some((m) => m.conversationId.equals(c.id))).length,
      );

      const heat = new Array(168).fill(0);
      const weekday = (day!.getUTCDay() + 6) % 7;
      for (const m of messages) if (m.type === 'user') heat[weekday * 24 + m.timestamp.getUTCHours()] += 1;
      expect(doc.insights.busiestHours).toEqual(heat);
      expect(doc.final).toBe(true);
    }
  });

  it('merges a week from its days: distinct users, never an average of averages', async () => {
    const week = await t.db.collection('chat_analytics').findOne({ period: 'weekly', scope: 'global', periodStart: days[0] });
    expect(week).not.toBeNull();
    const all = history.messages.filter((m) => m.timestamp >= days[0]! && m.timestamp.getTime() < days[1]!.getTime() + DAY);
    expect(week!.metrics.activeUsers).toBe(USERS.length);
    expect(week!.metrics.messages.total).toBe(all.length);
    const times = all.filter((m) => m.type === 'assistant' && m.status === 'completed').map((m) => m.processingTime!);
    within(week!.metrics.responseTimeMs.p95, exactQuantile(times, 0.95));
    const pickerWeek = await t.db
      .collection('chat_analytics')
      .findOne({ period: 'weekly', scope: 'role', scopeId: 'picker', periodStart: days[0] });
    expect(pickerWeek!.metrics.activeUsers).toBe(2);
  });

  it('gives the same documents when a period is rolled up again', async () => {
    const before = await t.db.collection('chat_analytics').find().sort({ _id: 1 }).toArray();
    expect(before.length).toBeGreaterThan(10);
    const job = t.app.get(AnalyticsRollupJob);
    const calendar = (await import('../../src/analytics/rollup/calendar.js')).AnalyticsCalendar;
    const utc = new calendar('UTC');
    const again = await job.backfill({ from: utc.day(dayKey(days[0]!))!, to: utc.day(dayKey(days[1]!))! });
    expect(again.status).toBe('succeeded');
    expect(again.counts).toMatchObject({ days: 2, written: 0, removed: 0 });
    expect(await t.db.collection('chat_analytics').find().sort({ _id: 1 }).toArray()).toEqual(before);
    // The scheduled run that follows starts from the first open day and changes nothing closed.
    expect((await t.http().post(`${ANALYTICS}/rollup`).set(admin()).expect(200)).body.status).toBe('succeeded');
    const closed = await t.db
      .collection('chat_analytics')
      .find({ periodStart: { $lte: days[1]! }, period: 'daily' })
      .sort({ _id: 1 })
      .toArray();
    expect(closed).toEqual(before.filter((doc) => doc.period === 'daily' && doc.periodStart <= days[1]!));
  });

  (existsSync(ROLLUP_CLI) ? it : it.skip)(
    `npm run analytics:rollup recomputes the days asked for, with progress (runs ${ROLLUP_CLI}; skipped when dist/ is not built)`,
    async () => {
      const lost = `daily:${dayKey(days[0]!)}:user:bob`;
      await t.db.collection('chat_analytics').deleteOne({ _id: lost as never });
      const run = await runCli(ROLLUP_CLI, t.db.databaseName, ['--from', dayKey(days[0]!), '--to', dayKey(days[1]!)]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`day ${dayKey(days[0]!)} rolled up (1/2)`);
      expect(run.stdout).toMatch(/done in [\d.]+ s: \{"days":2,"periods":2,"written":1,"unchanged":\d+,"removed":0\}/);
      expect(await t.db.collection('chat_analytics').countDocuments({ _id: lost as never })).toBe(1);
      const refused = await runCli(ROLLUP_CLI, t.db.databaseName, ['--from', dayKey(days[1]!), '--to', dayKey(days[0]!)]);
      expect(refused.code).toBe(2);
    },
  );

  describe('dashboard', () => {
    const range = () => `from=${dayKey(days[0]!)}&to=${dayKey(days[1]!)}`;

    it('shows a user their own figures, and nobody else’s', async () => {
      const own = await t
        .http()
        .get(`${ANALYTICS}/dashboard?${range()}`)
        .set(t.auth('alice', ['picker']))
        .expect(200);
      const alice = history.messages.filter((m) => m.userId === 'alice');
      expect(own.body.scope).toEqual({ kind: 'user', id: 'alice' });
      expect(own.body.totals.messages.total).toBe(alice.length);
      expect(own.body.totals.activeUsers).toBe(1);
      expect(own.body.series.map((point: { period: string }) => point.period)).toEqual(days.map(dayKey));
      expect(own.body.insights.feedbackComments).toBeUndefined();
      expect(own.body.availableScopes).toEqual(['me']);
      for (const scope of ['global', 'user:bob', 'role:picker', 'agent:picking-assistant']) {
        const refused = await t
          .http()
          .get(`${ANALYTICS}/dashboard?scope=${scope}`)
          .set(t.auth('alice', ['picker']))
          .expect(404);
        expect(refused.body.code).toBe('ANALYTICS_SCOPE_NOT_FOUND');
      }
      await t
        .http()
        .get(`${ANALYTICS}/dashboard?scope=user:alice`)
        .set(t.auth('alice', ['picker']))
        .expect(200);
    });

    it('shows a supervisor the roles they hold, and not the others', async () => {
      const lead = t.auth('lead', ['supervisor', 'picker']);
      const picker = await t.http().get(`${ANALYTICS}/dashboard?scope=role:picker&${range()}`).set(lead).expect(200);
      expect(picker.body.totals.activeUsers).toBe(2);
      expect(picker.body.totals.messages.total).toBe(history.messages.filter((m) => m.role === 'picker').length);
      expect(picker.body.availableScopes).toEqual(expect.arrayContaining(['me', 'role:picker']));
      expect(picker.body.insights.feedbackComments).toBeUndefined();
      expect((await t.http().get(`${ANALYTICS}/dashboard?scope=role:receiver`).set(lead).expect(404)).body.code).toBe(
        'ANALYTICS_SCOPE_NOT_FOUND',
      );
      expect((await t.http().get(`${ANALYTICS}/dashboard?scope=global`).set(lead).expect(404)).body.code).toBe('ANALYTICS_SCOPE_NOT_FOUND');
    });

    it('shows admins everything, with insights and the feedback comments', async () => {
      const body = (await t.http().get(`${ANALYTICS}/dashboard?scope=global&${range()}&period=weekly`).set(admin()).expect(200)).body;
      expect(body.totals.activeUsers).toBe(3);
      expect(body.totals.messages.total).toBe(history.messages.length);
      expect(body.series).toHaveLength(1);
      expect(body.series[0].activeUsers).toBe(3);
      const unanswered = history.messages.filter(
        (m) => m.type === 'assistant' && ((m.status === 'failed' && m.errorCode !== 'CANCELLED') || m.finishReason === 'no_match'),
      ).length;
      expect(body.totals.replies.unanswered).toBe(unanswered);
      expect(body.insights.unansweredQuestions.reduce((sum: number, q: { count: number }) => sum + q.count, 0)).toBe(unanswered);
      expect(body.insights.unansweredQuestions[0].text).toEqual(expect.any(String));
      expect(body.insights.topics[0]).toEqual({ term: expect.any(String), messages: expect.any(Number) });
      const heat: number[] = body.insights.busiestHours;
      expect(heat.reduce((a, b) => a + b, 0)).toBe(history.messages.filter((m) => m.type === 'user').length);
      expect(body.insights.peakHour.messages).toBe(Math.max(...heat));
      expect(body.insights.lowestSatisfactionAgents.map((a: { agentKey: string }) => a.agentKey).sort()).toEqual([
        'picking-assistant',
        'receiving-assistant',
      ]);
      expect(body.insights.feedbackComments.length).toBe(Math.min(20, history.feedback.filter((f) => f.comment).length));
      const adoption = body.totals.featureAdoption.attachments;
      expect(adoption).toBe(Math.round((body.totals.featureUsers.attachments / 3) * 1000) / 10);
    });

    it('answers one series as JSON and as CSV', async () => {
      const json = await t.http().get(`${ANALYTICS}/timeseries?metric=userMessages&scope=global&${range()}`).set(admin()).expect(200);
      const perDay = days.map((day) => messagesOf(day, (m) => m.type === 'user').length);
      expect(json.body.points.map((p: { value: number }) => p.value)).toEqual(perDay);
      const csv = await t
        .http()
        .get(`${ANALYTICS}/timeseries?metric=userMessages&scope=global&${range()}&format=csv`)
        .set(admin())
        .expect(200);
      expect(csv.headers['content-type']).toMatch(/^text\/csv/);
      expect(csv.text.trim().split('\r\n')).toEqual([
        'period,start,value,final',
        ...days.map((day, i) => `${dayKey(day)},${day.toISOString()},${perDay[i]},true`),
      ]);
    });

    it('refuses bad ranges and scopes with 400 and a field', async () => {
      const lead = t.auth('alice', ['picker']);
      const reversed = await t.http().get(`${ANALYTICS}/dashboard?from=2026-02-02&to=2026-02-01`).set(lead).expect(400);
      expect(reversed.body).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ field: 'from' }] });
      expect((await t.http().get(`${ANALYTICS}/dashboard?from=2026-02-30`).set(lead).expect(400)).body.code).toBe('VALIDATION_FAILED');
      expect((await t.http().get(`${ANALYTICS}/dashboard?from=2020-01-01&to=2026-01-01`).set(lead).expect(400)).body.code).toBe(
        'VALIDATION_FAILED',
      );
      expect((await t.http().get(`${ANALYTICS}/dashboard?scope=everyone`).set(lead).expect(400)).body.code).toBe('VALIDATION_FAILED');
      expect((await t.http().get(`${ANALYTICS}/timeseries?metric=nope`).set(lead).expect(400)).body.code).toBe('VALIDATION_FAILED');
      expect((await t.http().post(`${ANALYTICS}/rollup`).set(lead).expect(403)).body.code).toBeDefined();
    });
  });

  it('counts what users do through the API today: questions left unanswered, searches, exports', async () => {
    const user = t.auth('dave', ['warehouse_operator']);
    const conversation = (await t.http().post(`${API}/conversations`).set(user).send({}).expect(201)).body.id;
    const turn = await t
      .http()
      .post(`${API}/conversations/${conversation}/messages`)
      .set(user)
      .send({ content: 'What is the weather in Paris tomorrow?' })
      .expect(201);
    expect(turn.body.assistantMessage.generation.finishReason).toBe('no_match');
    await t.http().get(`${API}/messages/search?q=weather`).set(user).expect(200);
    await t.http().get(`${API}/conversations/${conversation}/export?format=json`).set(user).expect(200);
    // The feature counters are written after the answer.
    await waitFor(async () => (await t.db.collection('chat_feature_usage').countDocuments({ userId: 'dave' })) === 2);
    expect((await t.http().post(`${ANALYTICS}/rollup`).set(admin()).expect(200)).body.status).toBe('succeeded');
    const today = (await t.http().get(`${ANALYTICS}/dashboard`).set(user).expect(200)).body;
    expect(today.totals).toMatchObject({ searches: 1, exports: 1, conversationsStarted: 1, activeUsers: 1 });
    expect(today.totals.replies.unanswered).toBe(1);
    expect(today.totals.featureAdoption).toMatchObject({ search: 100, export: 100, attachments: 0 });
    expect(today.insights.unansweredQuestions).toEqual([{ text: 'What is the weather in Paris tomorrow?', count: 1 }]);
    expect(today.series.at(-1)).toMatchObject({ final: false, userMessages: 1 });
  });

  it('erases a user’s own rollups and usage with their data', async () => {
    expect(await t.db.collection('chat_analytics').countDocuments({ userId: 'dave' })).toBeGreaterThan(0);
    expect(await t.db.collection('chat_analytics').countDocuments({ scope: 'global', 'members.active': 'dave' })).toBe(1);
    const erased = await t.http().delete(`${API}/admin/users/dave/data`).set(admin());
    expect([200, 202]).toContain(erased.status);
    await waitFor(async () => (await t.db.collection('chat_analytics').countDocuments({ userId: 'dave' })) === 0);
    expect(await t.db.collection('chat_feature_usage').countDocuments({ userId: 'dave' })).toBe(0);
    // Nor is the user among the active users of the shared figures any more.
    expect(await t.db.collection('chat_analytics').countDocuments({ 'members.active': 'dave' })).toBe(0);
  });
});

describe('Analytics switched off (CHAT_ENABLE_ANALYTICS=false)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ CHAT_ENABLE_ANALYTICS: 'false' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers every analytics route 404 ANALYTICS_DISABLED, rolls nothing up and counts nothing', async () => {
    for (const [method, path] of [
      ['get', `${ANALYTICS}/dashboard`],
      ['get', `${ANALYTICS}/timeseries?metric=messages`],
      ['post', `${ANALYTICS}/rollup`],
    ] as const) {
      const call = method === 'get' ? t.http().get(path) : t.http().post(path);
      const answer = await call.set(t.auth('root', ['admin'])).expect(404);
      expect(answer.body).toMatchObject({ statusCode: 404, code: 'ANALYTICS_DISABLED' });
    }
    expect(t.app.get(JobScheduler).registeredJobs()).not.toContain('analytics-rollup');
    await t.http().get(`${API}/messages/search?q=pallet`).set(t.auth('erin')).expect(200);
    await new Promise((wake) => setTimeout(wake, 200));
    expect(await t.db.collection('chat_feature_usage').countDocuments()).toBe(0);
    const docs = await t.http().get('/api/docs-json').expect(200);
    expect(JSON.stringify(docs.body.paths[`${ANALYTICS}/dashboard`])).toContain('ANALYTICS_DISABLED');
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((wake) => setTimeout(wake, 50));
  }
}
