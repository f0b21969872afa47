import { WebSocket, type ClientOptions } from 'ws';

export interface Frame {
  event: string;
  id?: string | number;
  data?: unknown;
}

export interface PlainClient {
  ws: WebSocket;
  /** Every frame received since the connection opened, in order. */
  frames: Frame[];
  /** Resolves with the close code and reason once the connection has closed. */
  closed: Promise<{ code: number; reason: string }>;
  waitFor(predicate: (frames: Frame[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Sends `{ event, data, id }` and resolves with the data of the ack frame carrying that id. */
  request<T = Record<string, unknown>>(event: string, data?: unknown): Promise<T>;
  send(frame: unknown): void;
  close(): void;
}

/** What the server answered instead of upgrading: the HTTP status and the JSON error body. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: { statusCode: number; code: string; message: string },
  ) {
    super(`${status} ${body.code}: ${body.message}`);
  }
}

let nextId = 1;

/**
 * A plain WebSocket (the `ws` client) to the app's `/ws/chat/...`; resolves once open, or rejects
 * with UpgradeRefused when the server answered the handshake with an HTTP error.
 */
export function openPlain(
  port: number,
  path: string,
  options: { headers?: Record<string, string>; protocols?: string[]; client?: ClientOptions } = {},
): Promise<PlainClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, options.protocols ?? [], {
    headers: options.headers,
    ...options.client,
  });
  const frames: Frame[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  // Recorded from the first frame: `ready` and a replay can come before the caller has the client.
  ws.on('message', (data: Buffer) => frames.push(JSON.parse(data.toString('utf8')) as Frame));
  const client: PlainClient = {
    ws,
    frames,
    closed,
    waitFor: async (predicate, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(frames)) {
        if (Date.now() > deadline) throw new Error(`timed out; frames so far: ${JSON.stringify(frames).slice(0, 3000)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    request: async <T>(event: string, data?: unknown) => {
      const id = `r${nextId++}`;
      ws.send(JSON.stringify({ event, id, data }));
      await client.waitFor((received) => received.some((frame) => frame.event === 'ack' && frame.id === id));
      return frames.find((frame) => frame.event === 'ack' && frame.id === id)!.data as T;
    },
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    close: () => ws.close(),
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => {
        ws.terminate();
        reject(new UpgradeRefused(response.statusCode ?? 0, parseBody(body)));
      });
    });
    ws.once('error', (error) => reject(error));
  });
}

/** The frames of one event, their data. */
export function framesOf<T = Record<string, unknown>>(client: PlainClient, event: string): T[] {
  return client.frames.filter((frame) => frame.event === event).map((frame) => frame.data as T);
}

function parseBody(body: string): UpgradeRefused['body'] {
  try {
    return JSON.parse(body) as UpgradeRefused['body'];
  } catch {
    return { statusCode: 0, code: '', message: body };
  }
}
