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
