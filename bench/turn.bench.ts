import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConfigService } from '@nestjs/config';
import jwt from 'jsonwebtoken';
import { AgentsService } from '../src/agents/agents.service.js';
import { createApp } from '../src/bootstrap.js';
import { loadAppConfig, type AppConfig } from '../src/common/config/app-config.js';
import type { ChatProvider, PromptMessage } from '../src/chat/providers/chat-provider.js';
import { OpenAiCompatibleProvider } from '../src/chat/providers/openai-compatible.provider.js';
import { AppMetrics } from '../src/metrics/app-metrics.js';
import { PlaybookProvider } from '../src/chat/providers/playbook.provider.js';
import { resolveMongoStore } from '../src/database/store/mongo-store.js';
import { FakeOpenAiServer } from '../test/support/fake-openai-server.js';
import { sendJson } from './lib/http.js';
import { formatRow, runBenchmark, runConcurrently, summarize } from './lib/stats.js';

/**
 * npm run bench:turn — the cost of our chat turn on top of the reply engine. For the playbook
 * provider and for an OpenAI-compatible server answering at once (a local fake, 0 ms upstream), it
 * measures in one run:
 *  - the bare provider call (prompt in, whole reply out): the baseline;
 *  - the full turn through the API: POST /conversations/:id/messages, waiting for the reply.
 * The difference is our overhead: auth, validation, two writes before and one after the reply,
 * context assembly (preferences, history, token counting), events.
 */
const TURNS = Number(process.env.BENCH_TURNS ?? 400);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 1);
const TURNS_PER_CONVERSATION = 40;
const SECRET = 'bench-secret-bench-secret-bench-secret';
const QUESTIONS = [
  'What do I do about a short pick?',
  'The barcode will not scan',
  'I found a damaged item while picking',
  'How do I pack fragile glass?',
  'The shipping label printer is offline',
  'What are the pick rate targets?',
];

async function main(): Promise<void> {
  const llm = new FakeOpenAiServer();
  const llmUrl = await llm.start();
  llm.reply({ chunks: ['Scan the tote, ', 'press Short, ', 'enter the quantity ', 'you picked.'] });
  const store = await resolveMongoStore({ uri: process.env.MONGODB_URI, persistence: 'memory' });
  const config = loadAppConfig({
    NODE_ENV: 'production',
    JWT_SECRET: SECRET,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
    LLM_BASE_URL: llmUrl,
    LLM_MODEL: 'fake-model',
    PLAYBOOK_CHUNK_DELAY_MS: '0',
    CHAT_RATE_LIMIT_PER_MINUTE: '100000',
  });
  const app = await createApp({ config, database: { uri: store.uri, dbName: 'wms_chat_bench_turn' } });
  await app.listen(0, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  const http = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const typedConfig = { get: (key: keyof AppConfig) => config[key] } as unknown as ConfigService<AppConfig, true>;
  process.stdout.write(`store: ${store.description}\nturns: ${TURNS} per engine, concurrency ${CONCURRENCY}\n`);

  try {
    const adminToken = jwt.sign({ sub: 'bench-admin', roles: ['admin'] }, SECRET, { expiresIn: '1h' });
    const created = await sendJson(http, port, 'POST', '/api/v1/chat/agents', adminToken, {
      key: 'bench-llm',
      name: 'Bench LLM',
      allowedRoles: ['warehouse_operator'],
      systemPrompt: 'You are the picking assistant.',
      provider: 'openai-compatible',
    });
    if (created.status !== 201) throw new Error(`creating the bench agent failed: ${created.status} ${created.body}`);
    const agents = app.get(AgentsService);

    const engines: { name: string; agentKey: string; provider: ChatProvider }[] = [
      { name: 'playbook', agentKey: 'picking-assistant', provider: new PlaybookProvider(typedConfig) },
      {
        name: 'OpenAI-compatible (fake, 0 ms)',
        agentKey: 'bench-llm',
        provider: new OpenAiCompatibleProvider(typedConfig, new AppMetrics()),
      },
    ];
    for (const engine of engines) {
      const runtime = await agents.runtimeFor(engine.agentKey);
      const prompt = (question: string): PromptMessage[] => [
        { role: 'system', content: runtime.systemPrompt },
        { role: 'user', content: question },
      ];
      const bare = async (i: number) => {
        const question = QUESTIONS[i % QUESTIONS.length]!;
        for await (const event of engine.provider.generate(
          { agent: runtime, messages: prompt(question), question, responseStyle: null },
          new AbortController().signal,
        )) {
          void event;
        }
      };

      const token = jwt.sign({ sub: `bench-${engine.agentKey}`, roles: ['warehouse_operator'] }, SECRET, { expiresIn: '1h' });
      const conversations: string[] = [];
      for (let i = 0; i < Math.ceil((TURNS + 50) / TURNS_PER_CONVERSATION); i += 1) {
        const response = await sendJson(http, port, 'POST', '/api/v1/chat/conversations', token, { agentKey: engine.agentKey });
        conversations.push((JSON.parse(response.body) as { id: string }).id);
      }
      let next = 0;
      const turn = async (i: number) => {
        const conversation = conversations[Math.floor(next++ / TURNS_PER_CONVERSATION)]!;
        const response = await sendJson(http, port, 'POST', `/api/v1/chat/conversations/${conversation}/messages`, token, {
          content: QUESTIONS[i % QUESTIONS.length],
        });
        if (response.status !== 201 || !response.body.includes('"status":"completed"'))
          throw new Error(`turn failed: ${response.status} ${response.body.slice(0, 300)}`);
      };

      await runConcurrently(50, CONCURRENCY, bare);
      await runConcurrently(50, CONCURRENCY, turn);
      const baseline = summarize(await runConcurrently(TURNS, CONCURRENCY, bare));
      const full = summarize(await runConcurrently(TURNS, CONCURRENCY, turn));
      process.stdout.write(`\n${engine.name}\n`);
      process.stdout.write(`${formatRow('bare provider call', baseline)}\n`);
      process.stdout.write(`${formatRow('full turn over HTTP', full)}\n`);
      process.stdout.write(
        `overhead: p50 +${(full.p50 - baseline.p50).toFixed(2)} ms (${(full.p50 / baseline.p50).toFixed(1)}x)  p99 +${(full.p99 - baseline.p99).toFixed(2)} ms (${(full.p99 / baseline.p99).toFixed(1)}x)\n`,
      );
    }
  } finally {
    http.destroy();
    await app.close();
    await store.stop();
    await llm.stop();
  }
}

runBenchmark(main);
