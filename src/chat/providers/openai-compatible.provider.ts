import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { Counter } from 'prom-client';
import type { AgentRuntime } from '../../agents/agents.service.js';
import type { AppConfig } from '../../common/config/app-config.js';
import { AppMetrics } from '../../metrics/app-metrics.js';
import { countMessageTokens, countTokens } from '../../common/text/tokenizer.js';
import { ChatProvider, GenerationEvent, GenerationRequest, PromptMessage, ProviderError } from './chat-provider.js';

interface CompletionChunk {
  model?: string;
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | null;
  error?: { message?: string };
}

const RETRYABLE_STATUSES = new Set([408, 409, 425, 429, 500, 502, 503, 504]);
const MAX_RETRY_AFTER_MS = 10_000;

/**
 * Any server that speaks the OpenAI Chat Completions API (OpenAI, vLLM, Ollama, LM Studio, ...),
 * streamed over Server-Sent Events. Bounded retries with backoff on 429/5xx and network errors,
 * but only before the first token: a reply is never stitched from two attempts.
 */
@Injectable()
export class OpenAiCompatibleProvider implements ChatProvider {
  readonly name = 'openai-compatible';
  private readonly logger = new Logger(OpenAiCompatibleProvider.name);
  private readonly settings: AppConfig['llm'];

  /** Failed calls to the language model, each attempt counted (retried or not): operators alert on their rate. */
  private readonly failedCalls: Counter<'provider' | 'reason'>;

  constructor(config: ConfigService<AppConfig, true>, metrics: AppMetrics) {
    this.settings = config.get('llm', { infer: true });
    this.failedCalls = metrics.counter(
      'chat_provider_errors_total',
      'Failed calls to a language model, every attempt counted, by provider and reason (the HTTP status, timeout, network, or stream: the answer broke off)',
      ['provider', 'reason'],
    );
  }

  async *generate(request: GenerationRequest, signal: AbortSignal): AsyncIterable<GenerationEvent> {
    const model = request.agent.model ?? this.settings.model;
    const response = await this.post(
      {
        model,
        messages: request.messages,
        temperature: request.agent.temperature,
        max_tokens: request.agent.maxTokens,
        stream: true,
        stream_options: { include_usage: true },
      },
      signal,
    );

    let text = '';
    let finishReason: string | null = null;
    let usage: CompletionChunk['usage'] = null;
    let reportedModel: string | null = null;
    const pending: CompletionChunk[] = [];
    let done = false;
    const parser = createParser({
      onEvent: (event: EventSourceMessage) => {
        if (event.data === '[DONE]') {
          done = true;
          return;
        }
        try {
          pending.push(JSON.parse(event.data) as CompletionChunk);
        } catch {
          throw new ProviderError('PROVIDER_ERROR', 'The language model sent a malformed stream');
        }
      },
    });

    const decoder = new TextDecoder();
    try {
      for await (const bytes of response.body as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(bytes, { stream: true }));
        for (const chunk of pending.splice(0)) {
          if (chunk.error)
            throw new ProviderError('PROVIDER_ERROR', `The language model failed: ${truncate(chunk.error.message ?? 'unknown error')}`);
          reportedModel = chunk.model ?? reportedModel;
          if (chunk.usage) usage = chunk.usage;
          const choice = chunk.choices?.[0];
          if (choice?.finish_reason) finishReason = choice.finish_reason;
          const delta = choice?.delta?.content;
          if (delta) {
            text += delta;
            yield { type: 'delta', text: delta };
          }
        }
        if (done) break;
      }
    } catch (error) {
      const translated = this.translate(error, signal);
      this.countFailure(translated, 'stream');
      throw translated;
    }
    if (!done && finishReason === null) {
      this.failedCalls.inc({ provider: this.name, reason: 'stream' });
      throw new ProviderError('PROVIDER_ERROR', 'The language model stopped in the middle of its answer');
    }

    const prompt = usage?.prompt_tokens ?? countMessageTokens(request.messages);
    const completion = usage?.completion_tokens ?? countTokens(text);
    yield {
      type: 'done',
      usage: { prompt, completion, total: usage?.total_tokens ?? prompt + completion },
      finishReason: finishReason ?? 'stop',
      model: reportedModel ?? model,
    };
  }

  async summarize(agent: AgentRuntime, previousSummary: string | null, transcript: PromptMessage[], signal: AbortSignal): Promise<string> {
    const response = await this.post(
      {
        model: agent.model ?? this.settings.model,
        temperature: 0,
        max_tokens: 400,
        stream: false,
        messages: [
          {
            role: 'system',
            content:
              'Summarise this warehouse chat for the assistant’s memory in at most 150 words: facts, decisions, open questions. ' +
              'Extend the existing summary; do not invent anything.',
          },
          {
            role: 'user',
            content: `Existing summary:\n${previousSummary ?? '(none)'}\n\nNew messages:\n${transcript.map((m) => `${m.role}: ${m.content}`).join('\n')}`,
          },
        ],
      },
      signal,
    );
    const body = (await response.json()) as { choices?: { message?: { content?: string } }[] };
    const summary = body.choices?.[0]?.message?.content?.trim();
    if (!summary) throw new ProviderError('PROVIDER_ERROR', 'The language model returned an empty summary');
    return summary;
  }

  /** POSTs to /chat/completions with timeout, cancellation and bounded retries; returns a 2xx response. */
  private async post(body: Record<string, unknown>, signal: AbortSignal): Promise<Response> {
    const baseUrl = this.settings.baseUrl;
    if (!baseUrl) {
      throw new ProviderError('PROVIDER_UNAVAILABLE', 'This agent needs a language model, and none is configured (LLM_BASE_URL)');
    }
    const requestSignal = AbortSignal.any([signal, AbortSignal.timeout(this.settings.timeoutMs)]);
    for (let attempt = 0; ; attempt += 1) {
      let response: Response;
      try {
        response = await fetch(`${baseUrl}/chat/completions`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: body.stream ? 'text/event-stream' : 'application/json',
            ...(this.settings.apiKey ? { authorization: `Bearer ${this.settings.apiKey}` } : {}),
          },
          body: JSON.stringify(body),
          signal: requestSignal,
        });
      } catch (error) {
        const translated = this.translate(error, signal);
        this.countFailure(translated, 'network');
        if (translated.code !== 'PROVIDER_ERROR' || attempt >= this.settings.maxRetries) throw translated;
        await this.backoff(attempt, null, requestSignal, signal);
        continue;
      }
      if (response.ok) return response;
      this.failedCalls.inc({ provider: this.name, reason: String(response.status) });
      const detail = await readError(response);
      if (RETRYABLE_STATUSES.has(response.status) && attempt < this.settings.maxRetries) {
        this.logger.warn(`LLM answered ${response.status} (${detail}); retry ${attempt + 1} of ${this.settings.maxRetries}`);
        await this.backoff(attempt, response.headers.get('retry-after'), requestSignal, signal);
        continue;
      }
      throw new ProviderError(
        response.status === 429 ? 'PROVIDER_UNAVAILABLE' : 'PROVIDER_ERROR',
        response.status === 429
          ? 'The language model is busy right now. Try again in a moment.'
          : `The language model failed (HTTP ${response.status}): ${detail}`,
      );
    }
  }

  /** A failed call in the metrics: `timeout`, or `otherwise` (a cancelled reply is no failure of the provider). */
  private countFailure(error: ProviderError, otherwise: 'network' | 'stream'): void {
    if (error.code === 'CANCELLED') return;
    this.failedCalls.inc({ provider: this.name, reason: error.code === 'PROVIDER_TIMEOUT' ? 'timeout' : otherwise });
  }

  private async backoff(attempt: number, retryAfter: string | null, requestSignal: AbortSignal, callerSignal: AbortSignal): Promise<void> {
    const fromHeader = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : null;
    const delay = Math.min(MAX_RETRY_AFTER_MS, fromHeader ?? 250 * 2 ** attempt + Math.random() * 100);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, delay);
      requestSignal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(this.translate(requestSignal.reason, callerSignal));
        },
        { once: true },
      );
    });
  }

  private translate(error: unknown, callerSignal: AbortSignal): ProviderError {
    if (error instanceof ProviderError) return error;
    if (callerSignal.aborted) return new ProviderError('CANCELLED', 'The reply was cancelled');
    const name = (error as { name?: string } | undefined)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new ProviderError('PROVIDER_TIMEOUT', 'The language model took too long to answer. Try again.');
    }
    return new ProviderError(
      'PROVIDER_ERROR',
      `The language model could not be reached: ${truncate((error as Error).message ?? String(error))}`,
    );
  }
}

async function readError(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } | string };
    const message = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
    return truncate(message ?? text);
  } catch {
    return truncate(text || response.statusText);
  }
}

function truncate(text: string): string {
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}
