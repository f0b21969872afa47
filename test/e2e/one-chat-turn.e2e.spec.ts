import { ModulesContainer } from '@nestjs/core';
import type { Socket } from 'socket.io-client';
import { AttachmentsModule } from '../../src/attachments/attachments.module.js';
import { ChatModule } from '../../src/chat/chat.module.js';
import { ChatService } from '../../src/chat/chat.service.js';
import { ExportModule } from '../../src/export/export.module.js';
import { RealtimeSessions } from '../../src/realtime/realtime-sessions.js';
import { RealtimeModule } from '../../src/realtime/realtime.module.js';
import { SearchModule } from '../../src/search/search.module.js';
import { FakeOpenAiServer } from '../support/fake-openai-server.js';
import { connectSocket, emitWithAck, recorder } from '../support/socket.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const API = '/api/v1/chat';
const CONVERSATIONS = `${API}/conversations`;
const messagesOf = (id: string) => `${CONVERSATIONS}/${id}/messages`;
const AGENT = 'one-turn-llm';

/** The suite's agent on the fake OpenAI-compatible server, created by an admin. */
async function createAgent(app: TestApp): Promise<void> {
  await app
    .http()
    .post(`${API}/agents`)
    .set(app.auth('root', ['admin']))
    .send({
      key: AGENT,
      name: 'One turn',
      allowedRoles: ['warehouse_operator'],
      systemPrompt: 'Answer briefly.',
      provider: 'openai-compatible',
    })
    .expect(201);
}

interface SendAck {
  ok: boolean;
  userMessage?: { id: string; seq: number };
  assistantMessage?: { id: string; seq: number; status: string } | null;
  error?: { statusCode: number; code: string; message: string };
}

/** REST and Socket.IO sends to one conversation go through one chat turn: one queue, one send budget, one prompt builder. */
describe('One chat turn for REST and socket sends', () => {
  const llm = new FakeOpenAiServer();
  let t: TestApp;
  let port: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    const baseUrl = await llm.start();
    t = await startTestApp({ LLM_BASE_URL: baseUrl, LLM_MAX_RETRIES: '0', CHAT_RATE_LIMIT_PER_MINUTE: '3' });
    port = await t.port();
    await createAgent(t);
  });
  afterEach(() => {
    sockets.splice(0).forEach((socket) => socket.close());
  });
  afterAll(async () => {
    await t.close();
    await llm.stop();
  });

  async function open(namespace: string, user: string): Promise<Socket> {
    const socket = await connectSocket(port, namespace, { token: t.token(user) });
    sockets.push(socket);
    return socket;
  }

  async function conversation(user: string, body: Record<string, unknown> = {}): Promise<string> {
    return (await t.http().post(CONVERSATIONS).set(t.auth(user)).send(body).expect(201)).body.id;
  }

  it('holds one chat module, one ChatService and one of each configured module, shared by HTTP and the realtime protocols', () => {
    const modules = [...t.app.get(ModulesContainer).values()];
    for (const type of [ChatModule, AttachmentsModule, SearchModule, ExportModule, RealtimeModule]) {
      expect({ module: type.name, instances: modules.filter((module) => module.metatype === type).length }).toEqual({
        module: type.name,
        instances: 1,
      });
    }
    const chatServices = new Set(
      modules.flatMap((module) =>
        [...module.providers.values()].filter((wrapper) => wrapper.metatype === ChatService).map((w) => w.instance),
      ),
    );
    expect(chatServices.size).toBe(1);
    expect(t.app.get(RealtimeSessions)['chat']).toBe(t.app.get(ChatService));
  });

  it('queues a socket send behind a streamed REST reply: replies in order, the second seeing the first', async () => {
    llm.requests.length = 0;
    llm.reply({ chunks: ['Answer A'], delayMs: 300 }, { chunks: ['Answer B'] });
    const id = await conversation('orderly', { agentKey: AGENT });
    const socket = await open(`/chat/${id}`, 'orderly');
    const log = recorder(socket);

    const first = await t.http().post(messagesOf(id)).set(t.auth('orderly')).send({ content: 'Question A', stream: true }).expect(202);
    const second = await emitWithAck<SendAck>(socket, 'message:send', { content: 'Question B' });
    expect(second).toMatchObject({ ok: true, userMessage: { seq: 3 }, assistantMessage: { seq: 4, status: 'pending' } });
    expect(first.body.assistantMessage.seq).toBe(2);

    await log.waitFor((events) => events.filter(([name]) => name === 'message:completed').length === 2);
    const completed = log.events
      .filter(([name]) => name === 'message:completed')
      .map(([, payload]) => (payload as { message: { id: string; seq: number; content: string } }).message);
    expect(completed.map((message) => [message.seq, message.content])).toEqual([
      [2, 'Answer A'],
      [4, 'Answer B'],
    ]);

    const history = await t.http().get(messagesOf(id)).set(t.auth('orderly')).expect(200);
    expect(
      history.body.items.map(
        (message: { seq: number; type: string; content: string }) => `${message.seq}:${message.type}:${message.content}`,
      ),
    ).toEqual(['1:user:Question A', '2:assistant:Answer A', '3:user:Question B', '4:assistant:Answer B']);
    expect(llm.requests).toHaveLength(2);
    expect(llm.requests[1]!.body.messages.slice(1)).toEqual([
      { role: 'user', content: 'Question A' },
      { role: 'assistant', content: 'Answer A' },
      { role: 'user', content: 'Question B' },
    ]);
  });

  it('spends one send budget across REST and the socket, refusing the next send on either path', async () => {
    const id = await conversation('budget');
    const socket = await open('/chat', 'budget');
    const rest = (content: string) => t.http().post(messagesOf(id)).set(t.auth('budget')).send({ content, reply: false });
    const overSocket = (content: string) => emitWithAck<SendAck>(socket, 'message:send', { conversationId: id, content, reply: false });

    await rest('one').expect(201);
    expect(await overSocket('two')).toMatchObject({ ok: true, userMessage: { seq: 2 }, assistantMessage: null });
    await rest('three').expect(201);

    const refused = await rest('four').expect(429);
    expect(refused.body).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringContaining('at most 3 a minute') });
    expect(await overSocket('five')).toEqual({
      ok: false,
      error: {
        statusCode: 429,
        code: 'RATE_LIMITED',
        message: expect.stringContaining('at most 3 a minute'),
        details: { retryAfterSeconds: expect.any(Number) },
      },
    });
    expect(await t.db.collection('chat_messages').countDocuments({ userId: 'budget' })).toBe(3);
  });

  it('puts the text of a file attached over REST into the prompt of a question asked over the socket', async () => {
    llm.requests.length = 0;
    llm.reply({ chunks: ['Bay 14.'] });
    const id = await conversation('reader', { agentKey: AGENT });
    const sent = await t.http().post(messagesOf(id)).set(t.auth('reader')).send({ content: 'Here is the plan', reply: false }).expect(201);
    const [file] = (
      await t
        .http()
        .post(`${API}/messages/${sent.body.userMessage.id}/attachments`)
        .set(t.auth('reader'))
        .attach('file', Buffer.from('Overflow pallets go to bay 14.\n'), { filename: 'plan.txt', contentType: 'application/octet-stream' })
        .expect(201)
    ).body.items;
    const deadline = Date.now() + 15_000;
    while ((await t.http().get(`${API}/attachments/${file.id}`).set(t.auth('reader')).expect(200)).body.processingStatus === 'pending') {
      if (Date.now() > deadline) throw new Error('the attachment was not processed in time');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const socket = await open(`/chat/${id}`, 'reader');
    const log = recorder(socket);
    expect(await emitWithAck<SendAck>(socket, 'message:send', { content: 'Where do overflow pallets go?' })).toMatchObject({ ok: true });
    await log.waitFor((events) => events.some(([name]) => name === 'message:completed'));

    expect(llm.requests).toHaveLength(1);
    const system = llm.requests[0]!.body.messages[0]!;
    expect(system.role).toBe('system');
    expect(system.content).toContain('Attached file "plan.txt"');
    expect(system.content).toContain('Overflow pallets go to bay 14.');
  });
});

/** One instance, its own queue and the store's order check together (the send budget of the suite above is too small for this). */
describe('Regeneration behind queued replies', () => {
  const llm = new FakeOpenAiServer();
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ LLM_BASE_URL: await llm.start(), LLM_MAX_RETRIES: '0' });
    await createAgent(app);
  });
  afterAll(async () => {
    await app.close();
    await llm.stop();
  });

  it('regenerates an older reply queued behind later ones without waiting for them to time out', async () => {
    const id = (await app.http().post(CONVERSATIONS).set(app.auth('regenerator')).send({ agentKey: AGENT }).expect(201)).body.id;
    llm.reply({ chunks: ['First'] });
    const first = await app.http().post(messagesOf(id)).set(app.auth('regenerator')).send({ content: 'Q1', reply: true }).expect(201);
    llm.reply({ chunks: ['Second'], delayMs: 300 }, { chunks: ['Third'] }, { chunks: ['First again'] });
    await app.http().post(messagesOf(id)).set(app.auth('regenerator')).send({ content: 'Q2', stream: true }).expect(202);
    await app.http().post(messagesOf(id)).set(app.auth('regenerator')).send({ content: 'Q3', stream: true }).expect(202);
    await app
      .http()
      .post(`${messagesOf(id)}/${first.body.assistantMessage.id}/regenerate`)
      .set(app.auth('regenerator'))
      .send({ stream: true })
      .expect(202);
    const started = Date.now();
    let history: { seq: number; status: string; content: string }[] = [];
    while (Date.now() - started < 10_000) {
      history = (await app.http().get(messagesOf(id)).set(app.auth('regenerator')).expect(200)).body.items;
      if (history.every((message) => message.status !== 'pending')) break;
      await new Promise((wake) => setTimeout(wake, 50));
    }
    expect(history.map((message) => `${message.seq}:${message.status}:${message.content}`)).toEqual([
      '1:completed:Q1',
      '2:completed:First again',
      '3:completed:Q2',
      '4:completed:Second',
      '5:completed:Q3',
      '6:completed:Third',
    ]);
  });
});
