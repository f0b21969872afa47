import { JobScheduler } from '../../src/jobs/job-scheduler.service.js';
import { FakeOpenAiServer } from '../support/fake-openai-server.js';
import { connectSocket } from '../support/socket.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const CONVERSATIONS = '/api/v1/chat/conversations';

/** One sample of the Prometheus text exposition: name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format (what Prometheus scrapes); fails on a line it cannot read. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return { samples, types };
}

/** The value of the one sample with this name whose labels include `labels`; 0 when there is none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

async function scrape(t: TestApp, headers: Record<string, string> = {}) {
  const response = await t.http().get('/metrics').set(headers).expect(200);
  expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(response.text);
}

describe('Prometheus metrics (GET /metrics)', () => {
  describe('with analytics on (the default)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(() => t.close());

    it('times HTTP requests by route template and status, never by the path itself', async () => {
      const before = (await scrape(t)).samples;
      const user = t.auth('metrics-http');
      const id = (await t.http().post(CONVERSATIONS).set(user).send({}).expect(201)).body.id as string;
      await t.http().get(`${CONVERSATIONS}/${id}`).set(user).expect(200);
      await t.http().get(`${CONVERSATIONS}/${id}`).set(user).expect(200);
      await t.http().get(`${CONVERSATIONS}/0123456789abcdef01234567`).set(user).expect(404);
      await t.http().get('/api/v1/no-such-route').set(user).expect(404);
      const { samples, types } = await scrape(t);

      expect(types.get('http_request_duration_seconds')).toBe('histogram');
      const count = (labels: Record<string, string>) =>
        valueOf(samples, 'http_request_duration_seconds_count', labels) - valueOf(before, 'http_request_duration_seconds_count', labels);
      expect(count({ method: 'GET', route: '/api/v1/chat/conversations/:id', status_code: '200' })).toBe(2);
      expect(count({ method: 'GET', route: '/api/v1/chat/conversations/:id', status_code: '404' })).toBe(1);
      expect(count({ method: 'POST', route: '/api/v1/chat/conversations', status_code: '201' })).toBe(1);
      expect(count({ method: 'GET', route: 'unrouted', status_code: '404' })).toBe(1);
      // No series names an id.
      expect(samples.some((sample) => Object.values(sample.labels).some((value) => value.includes(id)))).toBe(false);
      // The histogram is consistent: the +Inf bucket holds every observation.
      const labels = { method: 'GET', route: '/api/v1/chat/conversations/:id', status_code: '200' };
      expect(valueOf(samples, 'http_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(
        valueOf(samples, 'http_request_duration_seconds_count', labels),
      );
    });

    it('counts messages stored and times the assistant’s replies by provider and agent', async () => {
      const before = (await scrape(t)).samples;
      const user = t.auth('metrics-chat', ['warehouse_operator']);
      const id = (await t.http().post(CONVERSATIONS).set(user).send({}).expect(201)).body.id as string;
      const turn = await t
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(user)
        .send({ content: 'How do I report a short pick?' })
        .expect(201);
      await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(user).send({ content: 'Noted.', reply: false }).expect(201);
      const reply = turn.body.assistantMessage as { status: string; generation: { provider: string; agentKey: string } };
      expect(reply.status).toBe('completed');
      const { samples, types } = await scrape(t);

      const delta = (name: string, labels: Record<string, string> = {}) => valueOf(samples, name, labels) - valueOf(before, name, labels);
      expect(types.get('chat_messages_stored_total')).toBe('counter');
      expect(delta('chat_messages_stored_total', { type: 'user' })).toBe(2);
      expect(delta('chat_messages_stored_total', { type: 'assistant' })).toBe(1);
      const replyLabels = { provider: reply.generation.provider, agent: reply.generation.agentKey };
      expect(delta('chat_reply_duration_seconds_count', { ...replyLabels, outcome: 'completed' })).toBe(1);
      expect(delta('chat_reply_time_to_first_token_seconds_count', replyLabels)).toBe(1);
      expect(types.get('chat_reply_failures_total')).toBe('counter');
    });

    it('reports open sockets, deliveries to them, the store and the jobs', async () => {
      const port = await t.port();
      const user = 'metrics-socket';
      const socket = await connectSocket(port, '/chat', { token: t.auth(user).Authorization.slice(7) });
      try {
        const open = await scrape(t);
        expect(valueOf(open.samples, 'chat_realtime_connections')).toBe(1);
        const id = (await t.http().post(CONVERSATIONS).set(t.auth(user)).send({}).expect(201)).body.id as string;
        await t
          .http()
          .post(`${CONVERSATIONS}/${id}/messages`)
          .set(t.auth(user))
          .send({ content: 'Dock 4 is free', reply: false })
          .expect(201);
        const delivered = await scrape(t);
        expect(
          valueOf(delivered.samples, 'chat_realtime_delivery_seconds_count', { event: 'message:created', via: 'local' }),
        ).toBeGreaterThan(0);
      } finally {
        socket.close();
      }

      const { samples } = await scrape(t);
      expect(valueOf(samples, 'chat_store_available')).toBe(1);
      const roundTrip = valueOf(samples, 'chat_store_round_trip_seconds');
      expect(roundTrip).toBeGreaterThan(0);
      expect(roundTrip).toBeLessThan(1);

      const run = await t.app.get(JobScheduler).runNow('conversation-counts');
      expect(run.status).toBe('succeeded');
      const after = (await scrape(t)).samples;
      expect(valueOf(after, 'chat_job_duration_seconds_count', { job: 'conversation-counts', status: 'succeeded' })).toBeGreaterThan(0);
      expect(valueOf(after, 'chat_job_last_success_timestamp_seconds', { job: 'conversation-counts' })).toBe(
        run.finishedAt!.getTime() / 1000,
      );
      // Process figures come along: memory and event-loop lag.
      expect(valueOf(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(after.some((sample) => sample.name.startsWith('nodejs_eventloop_lag'))).toBe(true);
    });

    it('is open without METRICS_TOKEN, needs no user token, and serves no other method', async () => {
      await t.http().get('/metrics').expect(200);
      await t.http().post('/metrics').expect(405);
      await t.http().get('/api/v1/metrics').set(t.auth('someone')).expect(404);
    });
  });

  describe('with a language model', () => {
    const llm = new FakeOpenAiServer();
    let t: TestApp;
    const AGENT = 'metrics-llm';
    beforeAll(async () => {
      t = await startTestApp({ LLM_BASE_URL: await llm.start(), LLM_MAX_RETRIES: '1' });
      await t
        .http()
        .post('/api/v1/chat/agents')
        .set(t.auth('root', ['admin']))
        .send({ key: AGENT, name: 'Metrics', allowedRoles: ['warehouse_operator'], systemPrompt: 'Answer.', provider: 'openai-compatible' })
        .expect(201);
    });
    afterAll(async () => {
      await t.close();
      await llm.stop();
    });

    it('counts every failed call to the provider, failed replies by code, and tokens by agent and model', async () => {
      const user = t.auth('metrics-llm-user', ['warehouse_operator']);
      const id = (await t.http().post(CONVERSATIONS).set(user).send({ agentKey: AGENT }).expect(201)).body.id as string;
      llm.reply(
        { status: 503, error: 'overloaded' },
        { chunks: ['Use ', 'dock 2.'], usage: { prompt_tokens: 40, completion_tokens: 3, total_tokens: 43 } },
      );
      const answered = await t
        .http()
        .post(`${CONVERSATIONS}/${id}/messages`)
        .set(user)
        .send({ content: 'Where do returns go?' })
        .expect(201);
      expect(answered.body.assistantMessage.status).toBe('completed');
      llm.reply({ status: 500, error: 'broken' });
      const failed = await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(user).send({ content: 'And damaged ones?' }).expect(201);
      expect(failed.body.assistantMessage).toMatchObject({ status: 'failed', error: { code: 'PROVIDER_ERROR' } });
      llm.reply({ chunks: ['Put them ', 'on the'], dropAfterChunks: 1 });
      const cut = await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(user).send({ content: 'And the rest?' }).expect(201);
      expect(cut.body.assistantMessage).toMatchObject({ status: 'failed', error: { code: 'PROVIDER_ERROR' } });

      const { samples } = await scrape(t);
      const provider = 'openai-compatible';
      expect(valueOf(samples, 'chat_provider_errors_total', { provider, reason: '503' })).toBe(1);
      expect(valueOf(samples, 'chat_provider_errors_total', { provider, reason: '500' })).toBe(2);
      expect(valueOf(samples, 'chat_provider_errors_total', { provider, reason: 'stream' })).toBe(1);
      expect(valueOf(samples, 'chat_reply_failures_total', { provider, agent: AGENT, code: 'PROVIDER_ERROR' })).toBe(2);
      expect(valueOf(samples, 'chat_reply_duration_seconds_count', { provider, agent: AGENT, outcome: 'completed' })).toBe(1);
      expect(valueOf(samples, 'chat_reply_duration_seconds_count', { provider, agent: AGENT, outcome: 'failed' })).toBe(2);
      const model = answered.body.assistantMessage.generation.model as string;
      expect(valueOf(samples, 'chat_tokens_total', { agent: AGENT, model, kind: 'prompt' })).toBe(40);
      expect(valueOf(samples, 'chat_tokens_total', { agent: AGENT, model, kind: 'completion' })).toBe(3);
    });
  });

  it('starts a job’s last success from the stored runs, so an alert on it holds across restarts', async () => {
    const dbName = `test_metrics_${Date.now()}`;
    const first = await startTestApp({}, { dbName });
    const run = await first.app.get(JobScheduler).runNow('retention');
    expect(run.status).toBe('succeeded');
    // Stopped as a deploy stops it: the database stays (TestApp.close would drop it).
    await first.app.close();
    const second = await startTestApp({}, { dbName });
    try {
      const wanted = run.finishedAt!.getTime() / 1000;
      for (let waited = 0; waited < 10_000; waited += 100) {
        if (valueOf((await scrape(second)).samples, 'chat_job_last_success_timestamp_seconds', { job: 'retention' }) === wanted) break;
        await new Promise((wake) => setTimeout(wake, 100));
      }
      expect(valueOf((await scrape(second)).samples, 'chat_job_last_success_timestamp_seconds', { job: 'retention' })).toBe(wanted);
    } finally {
      await second.close();
    }
  });

  describe('with METRICS_TOKEN', () => {
    let t: TestApp;
    const token = 'scrape-token-0123456789';
    beforeAll(async () => {
      t = await startTestApp({ METRICS_TOKEN: token });
    });
    afterAll(() => t.close());

    it('refuses a scrape without the token, with another one, or with a user’s JWT', async () => {
      for (const headers of [{}, { Authorization: 'Bearer scrape-token-0123456780' }, t.auth('admin-user', ['admin'])]) {
        const refused = await t.http().get('/metrics').set(headers).expect(401);
        expect(refused.body).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
      }
      await scrape(t, { Authorization: `Bearer ${token}` });
    });
  });

  describe('with CHAT_ENABLE_ANALYTICS=false', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ CHAT_ENABLE_ANALYTICS: 'false' });
    });
    afterAll(() => t.close());

    it('leaves the business counters out and keeps the operational figures', async () => {
      const user = t.auth('metrics-off', ['warehouse_operator']);
      const id = (await t.http().post(CONVERSATIONS).set(user).send({}).expect(201)).body.id as string;
      await t.http().post(`${CONVERSATIONS}/${id}/messages`).set(user).send({ content: 'Where is bin A-12-03?' }).expect(201);
      const { samples, types } = await scrape(t);
      for (const name of ['chat_messages_stored_total', 'chat_reply_duration_seconds', 'chat_reply_failures_total', 'chat_tokens_total']) {
        expect(types.has(name)).toBe(false);
      }
      expect(
        valueOf(samples, 'http_request_duration_seconds_count', {
          method: 'POST',
          route: '/api/v1/chat/conversations',
          status_code: '201',
        }),
      ).toBe(1);
      expect(types.get('chat_store_available')).toBe('gauge');
    });
  });
});
