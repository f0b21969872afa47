import { TestApp, startTestApp } from '../support/test-app.js';

describe('structured request logs', () => {
  let t: TestApp;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    t = await startTestApp(
      { LOG_LEVEL: 'info' },
      { logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } },
    );
  });
  afterAll(() => t.close());

  it('logs each request as JSON with the request id, and never the bearer token', async () => {
    const token = t.token('logged-user');
    await t.http().get('/api/v1/chat/conversations').set('Authorization', `Bearer ${token}`).set('x-request-id', 'log-check-1').expect(200);

    const entry = lines.find((line) => (line.req as { id?: string } | undefined)?.id === 'log-check-1');
    expect(entry).toMatchObject({
      level: 30,
      req: { method: 'GET', url: '/api/v1/chat/conversations', headers: { authorization: '[redacted]' } },
      res: { statusCode: 200 },
    });
    expect(JSON.stringify(lines)).not.toContain(token);
  });

  it('logs client errors as warnings', async () => {
    await t.http().get('/api/v1/chat/conversations/not-an-id').set(t.auth('logged-user')).set('x-request-id', 'log-check-2').expect(400);
    const entry = lines.find((line) => (line.req as { id?: string } | undefined)?.id === 'log-check-2');
    expect(entry).toMatchObject({ level: 40, res: { statusCode: 400 } });
  });
});
