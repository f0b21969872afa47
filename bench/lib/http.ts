import { createReadStream } from 'node:fs';
import { Agent, request } from 'node:http';

export interface BenchResponse {
  status: number;
  body: string;
}

/**
 * One JSON request to the app under test with a bearer token (none when `token` is empty), over a
 * keep-alive agent; `timeoutMs`, when given, fails a request that has not been answered by then.
 */
export function sendJson(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  token: string,
  body?: unknown,
  timeoutMs?: number,
): Promise<BenchResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('error', reject);
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    if (timeoutMs !== undefined) req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Like sendJson, but a non-2xx answer is an error. */
export async function sendJsonOk(agent: Agent, port: number, method: string, path: string, token: string, body?: unknown): Promise<string> {
  const response = await sendJson(agent, port, method, path, token, body);
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${response.body.slice(0, 300)}`);
  return response.body;
}

/** One file part of a multipart upload: bytes in memory, or a file on disk streamed as it is sent. */
export interface UploadPart {
  name: string;
  contentType: string;
  source: Buffer | { path: string; size: number };
}

/** POSTs `parts` as `multipart/form-data` (field `file`) to `path`, streaming file parts from disk. */
export function sendMultipart(port: number, path: string, token: string, parts: UploadPart[]): Promise<BenchResponse> {
  const boundary = `----bench${Date.now()}`;
  const heads = parts.map((part) =>
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${part.name}"\r\nContent-Type: ${part.contentType}\r\n\r\n`,
    ),
  );
  const tail = Buffer.from(`--${boundary}--\r\n`);
  const size = (part: UploadPart) => (Buffer.isBuffer(part.source) ? part.source.length : part.source.size);
  const length = parts.reduce((sum, part, index) => sum + heads[index]!.length + size(part) + 2, tail.length);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': length,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('error', reject);
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    const writeParts = async () => {
      for (const [index, part] of parts.entries()) {
        req.write(heads[index]);
        if (Buffer.isBuffer(part.source)) {
          req.write(part.source);
        } else {
          for await (const chunk of createReadStream(part.source.path)) {
            if (!req.write(chunk)) await new Promise((drained) => req.once('drain', drained));
          }
        }
        req.write('\r\n');
      }
      req.end(tail);
    };
    writeParts().catch((error: unknown) => req.destroy(error as Error));
  });
}
