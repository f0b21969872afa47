import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake answers one request. Scripts are used in order; the last one repeats. */
export interface FakeReply {
  status?: number;
  /** JSON error body for non-2xx answers. */
  error?: string;
  retryAfter?: string;
  /** Text pieces streamed as chat.completion.chunk deltas. */
  chunks?: string[];
  /** Send the final usage chunk (stream_options.include_usage). */
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  /** Wait before the response headers. */
  delayMs?: number;
  /** Wait between chunks. */
  chunkDelayMs?: number;
  /** Close the connection after this many chunks, without finish_reason or [DONE]. */
  dropAfterChunks?: number;
  /** Send this raw SSE data line instead of chunks. */
  rawData?: string;
  finishReason?: string;
  /** Non-streaming answer (summaries). */
  content?: string;
}

export interface RecordedRequest {
  headers: IncomingMessage['headers'];
  body: {
    model: string;
    stream?: boolean;
    messages: { role: string; content: string }[];
    temperature?: number;
    max_tokens?: number;
    stream_options?: unknown;
  };
  /** True once the client closed the connection before the answer ended. */
  aborted: boolean;
}

/**
 * A local server speaking the OpenAI Chat Completions protocol (JSON and SSE streaming), so the
 * provider is tested over real HTTP without reaching any network.
 */
export class FakeOpenAiServer {
  readonly requests: RecordedRequest[] = [];
  private script: FakeReply[] = [{ chunks: ['Hello', ' there'] }];
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  /** Replies for the next requests, in order; the last one repeats. */
  reply(...script: FakeReply[]): void {
    this.script = script;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const raw = await new Promise<string>((resolve) => {
      let data = '';
      request.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
      request.on('end', () => resolve(data));
    });
    const recorded: RecordedRequest = { headers: request.headers, body: JSON.parse(raw) as RecordedRequest['body'], aborted: false };
    this.requests.push(recorded);
    response.on('close', () => {
      if (!response.writableFinished) recorded.aborted = true;
    });
    const reply = this.script.length > 1 ? this.script.shift()! : this.script[0]!;
    if (request.url !== '/v1/chat/completions' || request.method !== 'POST') {
      response.writeHead(404).end();
      return;
    }
    if (reply.delayMs) await sleep(reply.delayMs);
    if (recorded.aborted) return;
    if (reply.status && reply.status >= 400) {
      response.writeHead(reply.status, {
        'content-type': 'application/json',
        ...(reply.retryAfter ? { 'retry-after': reply.retryAfter } : {}),
      });
      response.end(JSON.stringify({ error: { message: reply.error ?? 'fake failure', type: 'server_error' } }));
      return;
    }
    if (!recorded.body.stream) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          id: 'chatcmpl-fake',
          object: 'chat.completion',
          model: recorded.body.model,
          choices: [
            { index: 0, message: { role: 'assistant', content: reply.content ?? (reply.chunks ?? []).join('') }, finish_reason: 'stop' },
          ],
          usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
        }),
      );
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const send = (payload: unknown) => response.write(`data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`);
    if (reply.rawData !== undefined) {
      send(reply.rawData);
      response.end();
      return;
    }
    const chunks = reply.chunks ?? [];
    for (const [index, text] of chunks.entries()) {
      if (reply.dropAfterChunks !== undefined && index >= reply.dropAfterChunks) {
        await sleep(20);
        request.socket.destroy();
        return;
      }
      if (reply.chunkDelayMs && index > 0) await sleep(reply.chunkDelayMs);
      if (recorded.aborted) return;
      send({
        id: 'chatcmpl-fake',
        object: 'chat.completion.chunk',
        model: `${recorded.body.model}-served`,
        choices: [{ index: 0, delta: { content: text }, finish_reason: null }],
      });
    }
    send({
      id: 'chatcmpl-fake',
      object: 'chat.completion.chunk',
      model: `${recorded.body.model}-served`,
      choices: [{ index: 0, delta: {}, finish_reason: reply.finishReason ?? 'stop' }],
    });
    if (reply.usage !== null) {
      send({
        id: 'chatcmpl-fake',
        object: 'chat.completion.chunk',
        choices: [],
        usage: reply.usage ?? { prompt_tokens: 42, completion_tokens: chunks.length, total_tokens: 42 + chunks.length },
      });
    }
    send('[DONE]');
    response.end();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
