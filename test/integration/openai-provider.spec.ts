import type { ConfigService } from '@nestjs/config';
import type { AgentRuntime } from '../../src/agents/agents.service.js';
import { loadAppConfig } from '../../src/common/config/app-config.js';
import type { AppConfig } from '../../src/common/config/app-config.js';
import { GenerationEvent, ProviderError } from '../../src/chat/providers/chat-provider.js';
import { OpenAiCompatibleProvider } from '../../src/chat/providers/openai-compatible.provider.js';
import { AppMetrics } from '../../src/metrics/app-metrics.js';
import { countMessageTokens, countTokens } from '../../src/common/text/tokenizer.js';
import { FakeOpenAiServer } from '../support/fake-openai-server.js';

const agent: AgentRuntime = {
  key: 'llm-agent',
  name: 'LLM agent',
  version: 4,
  systemPrompt: 'You help.',
  provider: 'openai-compatible',
  model: null,
  temperature: 0.3,
  maxTokens: 256,
  contextTokens: 4096,
  knowledgeBase: [],
};
const messages = [
  { role: 'system' as const, content: 'You help.' },
  { role: 'user' as const, content: 'Where do damaged totes go?' },
];

function providerFor(env: Record<string, string>): OpenAiCompatibleProvider {
  const config = loadAppConfig({ NODE_ENV: 'test', ...env });
  return new OpenAiCompatibleProvider(
    { get: (key: keyof AppConfig) => config[key] } as unknown as ConfigService<AppConfig, true>,
    new AppMetrics(),
  );
}

async function collect(provider: OpenAiCompatibleProvider, signal = new AbortController().signal): Promise<GenerationEvent[]> {
  const events: GenerationEvent[] = [];
  for await (const event of provider.generate({ agent, messages, question: 'Where do damaged totes go?', responseStyle: null }, signal))
    events.push(event);
  return events;
}

describe('OpenAiCompatibleProvider against a local server speaking the protocol', () => {
  const server = new FakeOpenAiServer();
  let baseUrl: string;
  let provider: OpenAiCompatibleProvider;

  beforeAll(async () => {
    baseUrl = await server.start();
    provider = providerFor({
      LLM_BASE_URL: baseUrl,
      LLM_API_KEY: 'sk-test',
      LLM_MODEL: 'fake-model',
      LLM_TIMEOUT_MS: '800',
      LLM_MAX_RETRIES: '2',
    });
  });
  afterAll(() => server.stop());
  beforeEach(() => {
    server.requests.length = 0;
  });

  it('streams deltas and reports the usage block, model and finish reason', async () => {
    server.reply({
      chunks: ['Put it ', 'in the ', 'red tote.'],
      usage: { prompt_tokens: 31, completion_tokens: 7, total_tokens: 38 },
      finishReason: 'stop',
    });
    const events = await collect(provider);
    expect(events).toEqual([
      { type: 'delta', text: 'Put it ' },
      { type: 'delta', text: 'in the ' },
      { type: 'delta', text: 'red tote.' },
      { type: 'done', usage: { prompt: 31, completion: 7, total: 38 }, finishReason: 'stop', model: 'fake-model-served' },
    ]);
    const [request] = server.requests;
    expect(request!.headers.authorization).toBe('Bearer sk-test');
    expect(request!.body).toMatchObject({
      model: 'fake-model',
      stream: true,
      temperature: 0.3,
      max_tokens: 256,
      messages,
      stream_options: { include_usage: true },
    });
  });

  it('counts tokens with the tokenizer when the server sends no usage', async () => {
    server.reply({ chunks: ['Scan the ', 'tote first.'], usage: null, finishReason: 'length' });
    const done = (await collect(provider)).at(-1);
    const completion = countTokens('Scan the tote first.');
    const prompt = countMessageTokens(messages);
    expect(done).toEqual({
      type: 'done',
      usage: { prompt, completion, total: prompt + completion },
      finishReason: 'length',
      model: 'fake-model-served',
    });
  });

  it('retries 429 and 5xx answers with backoff, honouring Retry-After, then succeeds', async () => {
    server.reply({ status: 429, retryAfter: '0' }, { status: 503 }, { chunks: ['ok'] });
    const events = await collect(provider);
    expect(events[0]).toEqual({ type: 'delta', text: 'ok' });
    expect(server.requests).toHaveLength(3);
  });

  it('gives up after the configured retries with a reason the user can read', async () => {
    server.reply({ status: 500, error: 'model overloaded' });
    const patient = providerFor({ LLM_BASE_URL: baseUrl, LLM_TIMEOUT_MS: '10000', LLM_MAX_RETRIES: '2' });
    await expect(collect(patient)).rejects.toMatchObject({ code: 'PROVIDER_ERROR', message: expect.stringContaining('model overloaded') });
    expect(server.requests).toHaveLength(3);
  });

  it('does not retry a client error', async () => {
    server.reply({ status: 400, error: 'unknown model' });
    await expect(collect(provider)).rejects.toMatchObject({
      code: 'PROVIDER_ERROR',
      message: 'The language model failed (HTTP 400): unknown model',
    });
    expect(server.requests).toHaveLength(1);
  });

  it('times out a server that does not answer', async () => {
    server.reply({ delayMs: 3000, chunks: ['late'] });
    await expect(collect(providerFor({ LLM_BASE_URL: baseUrl, LLM_TIMEOUT_MS: '300', LLM_MAX_RETRIES: '0' }))).rejects.toMatchObject({
      code: 'PROVIDER_TIMEOUT',
    });
  });

  it('times out a stream that stalls midway', async () => {
    server.reply({ chunks: ['a', 'b', 'c'], chunkDelayMs: 2000 });
    await expect(collect(providerFor({ LLM_BASE_URL: baseUrl, LLM_TIMEOUT_MS: '500', LLM_MAX_RETRIES: '0' }))).rejects.toMatchObject({
      code: 'PROVIDER_TIMEOUT',
    });
  });

  it('cancels the upstream request when the caller aborts', async () => {
    server.reply({ chunks: ['one', 'two', 'three', 'four'], chunkDelayMs: 200 });
    const controller = new AbortController();
    const events: GenerationEvent[] = [];
    const run = (async () => {
      for await (const event of provider.generate({ agent, messages, question: 'q', responseStyle: null }, controller.signal)) {
        events.push(event);
        controller.abort();
      }
    })();
    await expect(run).rejects.toBeInstanceOf(ProviderError);
    await expect(run).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(events).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.requests[0]!.aborted).toBe(true);
  });

  it('fails a stream that is cut before it finishes', async () => {
    server.reply({ chunks: ['half', 'an', 'answer'], dropAfterChunks: 1 });
    await expect(collect(provider)).rejects.toMatchObject({ code: 'PROVIDER_ERROR' });
    // Text had already streamed: a retry would stitch two answers together, so none is made.
    expect(server.requests).toHaveLength(1);
  });

  it('fails a malformed stream', async () => {
    server.reply({ rawData: '{not json' });
    await expect(collect(provider)).rejects.toMatchObject({
      code: 'PROVIDER_ERROR',
      message: 'The language model sent a malformed stream',
    });
  });

  it('summarises through a non-streaming completion', async () => {
    server.reply({ content: 'User reported a damaged tote; told to use the red tote.' });
    const summary = await provider.summarize(agent, null, messages.slice(1), new AbortController().signal);
    expect(summary).toBe('User reported a damaged tote; told to use the red tote.');
    expect(server.requests[0]!.body.stream).toBe(false);
  });

  it('says the model is not configured when LLM_BASE_URL is missing', async () => {
    await expect(collect(providerFor({}))).rejects.toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
  });
});
