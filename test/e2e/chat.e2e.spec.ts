import { request as httpRequest } from 'node:http';
import { STALE_REPLIES_JOB } from '../../src/chat/chat.service.js';
import { JobScheduler } from '../../src/jobs/job-scheduler.service.js';
import { FakeOpenAiServer } from '../support/fake-openai-server.js';
import { readSse } from '../support/sse.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const CONVERSATIONS = '/api/v1/chat/conversations';
const messagesOf = (id: string) => `${CONVERSATIONS}/${id}/messages`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('The chat turn', () => {
  const llm = new FakeOpenAiServer();
  let t: TestApp;

  beforeAll(async () => {
    const baseUrl = await llm.start();
    t = await startTestApp({
      LLM_BASE_URL: baseUrl,
      LLM_MODEL: 'fake-model',
      LLM_TIMEOUT_MS: '1500',
      LLM_MAX_RETRIES: '0',
      CHAT_RATE_LIMIT_PER_MINUTE: '10000',
    });
    await t
      .http()
      .post('/api/v1/chat/agents')
      .set(t.auth('root', ['admin']))
      .send({
        key: 'llm-agent',
        name: 'LLM agent',
        allowedRoles: ['warehouse_operator'],
        systemPrompt: 'You are the LLM test agent.',
        provider: 'openai-compatible',
        maxTokens: 64,
      })
      .expect(201);
  });
  afterAll(async () => {
    await t.close();
    await llm.stop();
  });
  beforeEach(() => {
    llm.requests.length = 0;
    llm.reply({ chunks: ['Put it ', 'in the ', 'red tote.'] });
  });

  async function conversation(user: string, body: Record<string, unknown> = {}): Promise<string> {
    return (await t.http().post(CONVERSATIONS).set(t.auth(user)).send(body).expect(201)).body.id;
  }

  describe('with the playbook agent', () => {
    it('stores the question, answers from the playbook, and records cost, timing and the agent version', async () => {
      const id = await conversation('picker');
      const response = await t
        .http()
        .post(messagesOf(id))
        .set(t.auth('picker'))
        .send({ content: 'What do I do about a short pick?' })
        .expect(201);
      expect(response.body.userMessage).toMatchObject({
        type: 'user',
        content: 'What do I do about a short pick?',
        seq: 1,
        status: 'completed',
      });
      expect(response.body.assistantMessage).toMatchObject({
        type: 'assistant',
        seq: 2,
        status: 'completed',
        content: expect.stringContaining('[1] pick-02: Short pick'),
        tokensUsed: { prompt: expect.any(Number), completion: expect.any(Number), total: expect.any(Number) },
        processingTime: expect.any(Number),
        generation: {
          agentKey: 'picking-assistant',
          agentVersion: 1,
          provider: 'playbook',
          model: 'playbook:picking-assistant@1',
          finishReason: 'stop',
          timeToFirstToken: expect.any(Number),
          attempt: 1,
        },
      });
      const stored = await t.http().get(`${CONVERSATIONS}/${id}`).set(t.auth('picker')).expect(200);
      expect(stored.body).toMatchObject({ messageCount: 2, title: 'What do I do about a short pick' });
    });

    it('keeps a title the user chose', async () => {
      const id = await conversation('picker', { title: 'Dock 4' });
      await t.http().post(messagesOf(id)).set(t.auth('picker')).send({ content: 'forklift safety' }).expect(201);
      await sleep(50);
      expect((await t.http().get(`${CONVERSATIONS}/${id}`).set(t.auth('picker')).expect(200)).body.title).toBe('Dock 4');
    });

    it('stores only the question with reply: false', async () => {
      const id = await conversation('picker');
      const response = await t
        .http()
        .post(messagesOf(id))
        .set(t.auth('picker'))
        .send({ content: 'note to self', reply: false })
        .expect(201);
      expect(response.body.assistantMessage).toBeNull();
      expect((await t.http().get(`${CONVERSATIONS}/${id}`).set(t.auth('picker')).expect(200)).body.messageCount).toBe(1);
    });
  });

  describe('streaming', () => {
    it('answers 202 at once and streams the reply over SSE, then stores it complete', async () => {
      llm.reply({ chunks: ['Put ', 'it ', 'in ', 'the ', 'red ', 'tote.'], chunkDelayMs: 60 });
      const id = await conversation('streamer', { agentKey: 'llm-agent' });
      const accepted = await t
        .http()
        .post(messagesOf(id))
        .set(t.auth('streamer'))
        .send({ content: 'Damaged tote?', stream: true })
        .expect(202);
      expect(accepted.body.assistantMessage).toMatchObject({ status: 'pending', content: '', seq: 2 });
      const replyId: string = accepted.body.assistantMessage.id;

      const sse = await readSse(await t.port(), `${messagesOf(id)}/${replyId}/stream`, t.auth('streamer'));
      expect(sse.status).toBe(200);
      expect(sse.contentType).toContain('text/event-stream');
      const deltas = sse.events.filter((event) => event.event === 'delta').map((event) => (event.data as { text: string }).text);
      expect(deltas.join('')).toBe('Put it in the red tote.');
      expect(sse.events.at(-1)).toMatchObject({
        event: 'completed',
        data: { message: { id: replyId, status: 'completed', content: 'Put it in the red tote.' } },
      });

      const history = await t.http().get(messagesOf(id)).set(t.auth('streamer')).expect(200);
      expect(history.body.items[1]).toMatchObject({
        id: replyId,
        status: 'completed',
        content: 'Put it in the red tote.',
        generation: { model: 'fake-model-served' },
      });
    });

    it('answers a finished reply’s stream with its final event at once', async () => {
      const id = await conversation('streamer');
      const turn = await t.http().post(messagesOf(id)).set(t.auth('streamer')).send({ content: 'label printer offline' }).expect(201);
      const sse = await readSse(await t.port(), `${messagesOf(id)}/${turn.body.assistantMessage.id}/stream`, t.auth('streamer'));
      expect(sse.events).toEqual([
        { event: 'completed', data: { message: expect.objectContaining({ id: turn.body.assistantMessage.id }) } },
      ]);
    });

    it('refuses to stream a user message (400) or someone else’s reply (404), as JSON', async () => {
      const id = await conversation('streamer');
      const turn = await t.http().post(messagesOf(id)).set(t.auth('streamer')).send({ content: 'hello' }).expect(201);
      const mine = await t
        .http()
        .get(`${messagesOf(id)}/${turn.body.userMessage.id}/stream`)
        .set(t.auth('streamer'))
        .expect(400);
      expect(mine.body.code).toBe('NOT_AN_ASSISTANT_MESSAGE');
      const theirs = await t
        .http()
        .get(`${messagesOf(id)}/${turn.body.assistantMessage.id}/stream`)
        .set(t.auth('intruder'))
        .expect(404);
      expect(theirs.body.code).toBe('MESSAGE_NOT_FOUND');
    });
  });

  describe('failures and regeneration', () => {
    it('stores a failed reply with a reason when the model fails, keeps the question, and regenerates it', async () => {
      llm.reply({ status: 500, error: 'model overloaded' });
      const id = await conversation('unlucky', { agentKey: 'llm-agent' });
      const turn = await t.http().post(messagesOf(id)).set(t.auth('unlucky')).send({ content: 'Where is bay 7?' }).expect(201);
      expect(turn.body.userMessage.status).toBe('completed');
      expect(turn.body.assistantMessage).toMatchObject({
        status: 'failed',
        error: { code: 'PROVIDER_ERROR', message: expect.stringContaining('model overloaded') },
      });

      llm.reply({ chunks: ['Bay 7 is ', 'in aisle 3.'] });
      const retried = await t
        .http()
        .post(`${messagesOf(id)}/${turn.body.assistantMessage.id}/regenerate`)
        .set(t.auth('unlucky'))
        .send({})
        .expect(200);
      expect(retried.body).toMatchObject({
        id: turn.body.assistantMessage.id,
        seq: 2,
        status: 'completed',
        content: 'Bay 7 is in aisle 3.',
        generation: { attempt: 2 },
      });
      expect(retried.body.error).toBeUndefined();
      expect(llm.requests.at(-1)!.body.messages.at(-1)).toEqual({ role: 'user', content: 'Where is bay 7?' });
    });

    it('stores a timed-out reply as failed with PROVIDER_TIMEOUT', async () => {
      llm.reply({ delayMs: 3000, chunks: ['late'] });
      const id = await conversation('slowpoke', { agentKey: 'llm-agent' });
      const turn = await t.http().post(messagesOf(id)).set(t.auth('slowpoke')).send({ content: 'quick question' }).expect(201);
      expect(turn.body.assistantMessage).toMatchObject({ status: 'failed', error: { code: 'PROVIDER_TIMEOUT' } });
    });

    it('refuses to regenerate a user message (400) or another user’s reply (404)', async () => {
      const id = await conversation('owner');
      const turn = await t.http().post(messagesOf(id)).set(t.auth('owner')).send({ content: 'scanner battery' }).expect(201);
      const user = await t
        .http()
        .post(`${messagesOf(id)}/${turn.body.userMessage.id}/regenerate`)
        .set(t.auth('owner'))
        .send({})
        .expect(400);
      expect(user.body.code).toBe('NOT_AN_ASSISTANT_MESSAGE');
      await t
        .http()
        .post(`${messagesOf(id)}/${turn.body.assistantMessage.id}/regenerate`)
        .set(t.auth('intruder'))
        .send({})
        .expect(404);
    });

    it('cancels the model request when the client goes away, and stores the reply as cancelled', async () => {
      llm.reply({ chunks: ['one ', 'two ', 'three ', 'four ', 'five'], chunkDelayMs: 300 });
      const id = await conversation('leaver', { agentKey: 'llm-agent' });
      const port = await t.port();
      const body = JSON.stringify({ content: 'long answer please' });
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: messagesOf(id),
        headers: { ...t.auth('leaver'), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      req.on('error', () => undefined);
      llm.requests.length = 0;
      req.end(body);
      // Leave once the model has started answering.
      for (let i = 0; i < 100 && llm.requests.length === 0; i += 1) await sleep(20);
      await sleep(350);
      req.destroy();
      for (let i = 0; i < 50 && !llm.requests[0]!.aborted; i += 1) await sleep(20);
      expect(llm.requests[0]!.aborted).toBe(true);
      await sleep(100);
      const history = await t.http().get(messagesOf(id)).set(t.auth('leaver')).expect(200);
      expect(history.body.items[1]).toMatchObject({
        status: 'failed',
        error: { code: 'CANCELLED' },
        content: expect.stringContaining('one'),
      });
    });

    it('marks replies left in flight by a crashed instance as interrupted', async () => {
      const id = await conversation('crashed', { agentKey: 'llm-agent' });
      const turn = await t.http().post(messagesOf(id)).set(t.auth('crashed')).send({ content: 'hi', reply: false }).expect(201);
      const old = new Date(Date.now() - 24 * 3600_000);
      await t.db
        .collection('chat_messages')
        .updateOne({ content: 'hi', userId: 'crashed' }, { $set: { type: 'assistant', status: 'pending', updatedAt: old } });
      // The job (each minute and at boot) may have found it first; either way it is failed once this run has finished.
      expect(await t.app.get(JobScheduler).runNow(STALE_REPLIES_JOB)).toMatchObject({ status: 'succeeded' });
      const history = await t.http().get(messagesOf(id)).set(t.auth('crashed')).expect(200);
      expect(history.body.items[0]).toMatchObject({ id: turn.body.userMessage.id, status: 'failed', error: { code: 'INTERRUPTED' } });
    });
  });

  describe('order and context', () => {
    it('answers concurrent questions one after another, each seeing the previous answer', async () => {
      llm.reply({ chunks: ['Answer A'], chunkDelayMs: 0, delayMs: 150 }, { chunks: ['Answer B'] });
      const id = await conversation('racer', { agentKey: 'llm-agent' });
      const [first, second] = await Promise.all([
        t.http().post(messagesOf(id)).set(t.auth('racer')).send({ content: 'Question A' }),
        sleep(20).then(() => t.http().post(messagesOf(id)).set(t.auth('racer')).send({ content: 'Question B' })),
      ]);
      expect([first.status, second.status]).toEqual([201, 201]);
      const history = await t.http().get(messagesOf(id)).set(t.auth('racer')).expect(200);
      expect(history.body.items.map((message: { type: string; content: string }) => `${message.type}:${message.content}`)).toEqual([
        'user:Question A',
        'assistant:Answer A',
        'user:Question B',
        'assistant:Answer B',
      ]);
      expect(llm.requests[1]!.body.messages.slice(1)).toEqual([
        { role: 'user', content: 'Question A' },
        { role: 'assistant', content: 'Answer A' },
        { role: 'user', content: 'Question B' },
      ]);
    });

    it('puts the system prompt, the user’s language, style and kept facts into the prompt', async () => {
      const headers = t.auth('preferring');
      await t.http().put('/api/v1/chat/user/preferences').set(headers).send({ language: 'de', responseStyle: 'concise' }).expect(200);
      await t.http().post('/api/v1/chat/user/preferences/facts').set(headers).send({ text: 'Works night shift at DC-01' }).expect(201);
      const id = await conversation('preferring', { agentKey: 'llm-agent' });
      await t.http().post(messagesOf(id)).set(headers).send({ content: 'Hallo' }).expect(201);
      const system = llm.requests.at(-1)!.body.messages[0]!;
      expect(system.role).toBe('system');
      expect(system.content).toContain('You are the LLM test agent.');
      expect(system.content).toContain('"de"');
      expect(system.content).toContain('Keep answers short');
      expect(system.content).toContain('- Works night shift at DC-01');
    });

    it('keeps the prompt within the agent’s token budget and folds older messages into a stored summary', async () => {
      await t
        .http()
        .post('/api/v1/chat/agents')
        .set(t.auth('root', ['admin']))
        .send({
          key: 'small-context',
          name: 'Small',
          allowedRoles: ['warehouse_operator'],
          systemPrompt: 'Be brief.',
          provider: 'openai-compatible',
          maxTokens: 16,
          contextTokens: 512,
        })
        .expect(201);
      const headers = t.auth('verbose');
      const id = await conversation('verbose', { agentKey: 'small-context' });
      const paragraph = (n: number) => `Note ${n}: ${'the pallet at dock four was wrapped badly and leaned over '.repeat(8)}`;
      for (let n = 1; n <= 6; n += 1) {
        await t
          .http()
          .post(messagesOf(id))
          .set(headers)
          .send({ content: paragraph(n), reply: false })
          .expect(201);
      }
      llm.reply({ chunks: ['Noted.'] }, { content: 'Summary: six notes about a badly wrapped pallet at dock four.' });
      await t.http().post(messagesOf(id)).set(headers).send({ content: 'What should I do?' }).expect(201);

      const prompt = llm.requests[0]!.body.messages;
      expect(prompt.at(-1)).toEqual({ role: 'user', content: 'What should I do?' });
      expect(prompt.length).toBeLessThan(8);
      expect(prompt.some((message) => message.content.startsWith('Note 1:'))).toBe(false);

      let summary: { text: string; throughSeq: number } | null = null;
      for (let i = 0; i < 40 && !summary; i += 1) {
        await sleep(50);
        summary = ((await t.db.collection('chat_conversations').findOne({ userId: 'verbose' }))?.summary as typeof summary) ?? null;
      }
      expect(summary).toMatchObject({
        text: 'Summary: six notes about a badly wrapped pallet at dock four.',
        throughSeq: expect.any(Number),
      });
      expect(llm.requests[1]!.body.stream).toBe(false);

      llm.reply({ chunks: ['Rewrap it.'] });
      await t.http().post(messagesOf(id)).set(headers).send({ content: 'And then?' }).expect(201);
      expect(llm.requests.at(-1)!.body.messages[0]!.content).toContain(
        'Summary of the earlier part of this conversation:\nSummary: six notes',
      );
    });
  });

  describe('refusals that store nothing', () => {
    async function messageCount(user: string) {
      return t.db.collection('chat_messages').countDocuments({ userId: user });
    }

    it('refuses a message to an archived conversation with 409', async () => {
      const id = await conversation('archiver');
      await t.http().delete(`${CONVERSATIONS}/${id}`).set(t.auth('archiver')).expect(204);
      const response = await t.http().post(messagesOf(id)).set(t.auth('archiver')).send({ content: 'hello?' }).expect(409);
      expect(response.body.code).toBe('CONVERSATION_NOT_ACTIVE');
      expect(await messageCount('archiver')).toBe(0);
    });

    it('refuses a message when the conversation’s agent was disabled, with 409', async () => {
      await t
        .http()
        .post('/api/v1/chat/agents')
        .set(t.auth('root', ['admin']))
        .send({ key: 'retiring', name: 'Retiring', allowedRoles: ['warehouse_operator'], systemPrompt: 'x', provider: 'playbook' })
        .expect(201);
      const id = await conversation('orphan', { agentKey: 'retiring' });
      await t
        .http()
        .patch('/api/v1/chat/agents/retiring')
        .set(t.auth('root', ['admin']))
        .send({ enabled: false })
        .expect(200);
      const response = await t.http().post(messagesOf(id)).set(t.auth('orphan')).send({ content: 'anyone there?' }).expect(409);
      expect(response.body.code).toBe('AGENT_UNAVAILABLE');
      expect(await messageCount('orphan')).toBe(0);
    });
  });
});

describe('Per-user rate limit on sends', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ CHAT_RATE_LIMIT_PER_MINUTE: '2' });
  });
  afterAll(() => t.close());

  it('answers 429 with Retry-After past the limit, stores nothing, and limits each user separately', async () => {
    const id = (await t.http().post(CONVERSATIONS).set(t.auth('spammer')).send({}).expect(201)).body.id;
    await t.http().post(messagesOf(id)).set(t.auth('spammer')).send({ content: 'one', reply: false }).expect(201);
    await t.http().post(messagesOf(id)).set(t.auth('spammer')).send({ content: 'two', reply: false }).expect(201);
    const limited = await t.http().post(messagesOf(id)).set(t.auth('spammer')).send({ content: 'three', reply: false }).expect(429);
    expect(limited.body).toMatchObject({
      statusCode: 429,
      error: 'Too Many Requests',
      code: 'RATE_LIMITED',
      details: { retryAfterSeconds: 30 },
    });
    expect(limited.headers['retry-after']).toBe('30');
    expect(await t.db.collection('chat_messages').countDocuments({ userId: 'spammer' })).toBe(2);

    const other = (await t.http().post(CONVERSATIONS).set(t.auth('calm')).send({}).expect(201)).body.id;
    await t.http().post(messagesOf(other)).set(t.auth('calm')).send({ content: 'hello', reply: false }).expect(201);
  });
});
