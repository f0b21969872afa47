import { request } from 'node:http';

export interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads a Server-Sent Events response to its end; resolves with the status and the events. */
export function readSse(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; contentType: string; events: SseEvent[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const events = body
          .split('\n\n')
          .filter((block) => block.startsWith('event:'))
          .map((block) => {
            const [eventLine, dataLine] = block.split('\n');
            return { event: eventLine!.slice('event: '.length), data: JSON.parse(dataLine!.slice('data: '.length)) as unknown };
          });
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), events, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
