import { resolveMongoStore } from '../../src/database/store/mongo-store.js';
import { TestApp, startTestApp } from '../support/test-app.js';

describe('API docs and health', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('serves Swagger UI at /api/docs', async () => {
    const response = await t.http().get('/api/docs').redirects(1).expect(200);
    expect(response.text).toContain('swagger-ui');
  });

  it('documents every route with bearer auth, schemas and the standard error body', async () => {
    const { body: spec } = await t.http().get('/api/docs-json').expect(200);
    const routes = Object.entries(
      spec.paths as Record<
        string,
        Record<string, { security?: unknown[]; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> }>
      >,
    )
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(routes).toEqual(
      [
        'DELETE /api/v1/chat/admin/retention/policies/agent/{key}',
        'DELETE /api/v1/chat/admin/retention/policies/role/{key}',
        'DELETE /api/v1/chat/admin/users/{userId}/data',
        'DELETE /api/v1/chat/agents/{key}',
        'DELETE /api/v1/chat/attachments/{id}',
        'DELETE /api/v1/chat/conversations/{id}',
        'DELETE /api/v1/chat/conversations/{id}/messages/{messageId}',
        'DELETE /api/v1/chat/user/data',
        'DELETE /api/v1/chat/user/preferences/facts/{factId}',
        'GET /api/v1/chat/admin/audit',
        'GET /api/v1/chat/admin/data-exports/{exportId}',
        'GET /api/v1/chat/admin/data-exports/{exportId}/download',
        'GET /api/v1/chat/admin/erasures/{erasureId}',
        'GET /api/v1/chat/admin/export/messages',
        'GET /api/v1/chat/admin/import/legacy/{importId}',
        'GET /api/v1/chat/admin/import/legacy/{importId}/report',
        'GET /api/v1/chat/admin/legal-holds',
        'GET /api/v1/chat/admin/legal-holds/{holdId}',
        'GET /api/v1/chat/admin/retention/policies',
        'GET /api/v1/chat/admin/retention/preview',
        'GET /api/v1/chat/agents',
        'GET /api/v1/chat/agents/admin',
        'GET /api/v1/chat/agents/{key}',
        'GET /api/v1/chat/agents/{key}/versions/{version}',
        'GET /api/v1/chat/analytics/dashboard',
        'GET /api/v1/chat/analytics/timeseries',
        'GET /api/v1/chat/attachments/{id}',
        'GET /api/v1/chat/attachments/{id}/content',
        'GET /api/v1/chat/attachments/{id}/thumbnail',
        'GET /api/v1/chat/conversations',
        'GET /api/v1/chat/conversations/export',
        'GET /api/v1/chat/conversations/search',
        'GET /api/v1/chat/conversations/{id}',
        'GET /api/v1/chat/conversations/{id}/export',
        'GET /api/v1/chat/conversations/{id}/messages',
        'GET /api/v1/chat/conversations/{id}/messages/{messageId}/stream',
        'GET /api/v1/chat/messages/search',
        'GET /api/v1/chat/messages/{id}/attachments',
        'GET /api/v1/chat/user/data-export',
        'GET /api/v1/chat/user/data-exports/{exportId}',
        'GET /api/v1/chat/user/data-exports/{exportId}/download',
        'GET /api/v1/chat/user/preferences',
        'GET /api/v1/health',
        'GET /api/v1/health/ready',
        'PATCH /api/v1/chat/agents/{key}',
        'PATCH /api/v1/chat/conversations/{id}',
        'POST /api/v1/chat/admin/import/legacy',
        'POST /api/v1/chat/admin/legal-holds',
        'POST /api/v1/chat/admin/legal-holds/{holdId}/release',
        'POST /api/v1/chat/admin/retention/run',
        'POST /api/v1/chat/admin/users/{userId}/anonymise',
        'POST /api/v1/chat/admin/users/{userId}/data-export',
        'POST /api/v1/chat/agents',
        'POST /api/v1/chat/analytics/rollup',
        'POST /api/v1/chat/conversations',
        'POST /api/v1/chat/conversations/{id}/messages',
        'POST /api/v1/chat/conversations/{id}/messages/{messageId}/regenerate',
        'POST /api/v1/chat/messages/{id}/attachments',
        'POST /api/v1/chat/messages/{id}/feedback',
        'POST /api/v1/chat/user/anonymise',
        'POST /api/v1/chat/user/data-export',
        'POST /api/v1/chat/user/preferences/facts',
        'PUT /api/v1/chat/admin/retention/policies/agent/{key}',
        'PUT /api/v1/chat/admin/retention/policies/role/{key}',
        'PUT /api/v1/chat/user/preferences',
        'GET /metrics',
      ].sort(),
    );

    for (const [path, operations] of Object.entries(
      spec.paths as Record<
        string,
        Record<string, { security?: unknown[]; responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> }>
      >,
    )) {
      // The probes and the Prometheus scrape need no user token.
      if (path.startsWith('/api/v1/health') || path === '/metrics') continue;
      for (const operation of Object.values(operations)) {
        expect(operation.security).toEqual([{ bearer: [] }]);
        for (const status of ['400', '401', '500']) {
          expect(operation.responses[status]?.content?.['application/json']?.schema.$ref).toBe('#/components/schemas/ErrorResponseDto');
        }
      }
    }
    expect(spec.paths['/api/v1/chat/conversations/{id}/messages'].post.responses['409']).toBeDefined();
    expect(spec.components.schemas.ErrorResponseDto.required).toEqual(expect.arrayContaining(['statusCode', 'error', 'code', 'message']));
    expect(spec.components.schemas.ConversationPageDto.properties.nextCursor).toBeDefined();
    expect(spec.components.schemas.SendMessageDto.properties.content).toBeDefined();
    expect(spec.paths['/api/v1/chat/conversations/{id}/messages'].post.responses['429']).toBeDefined();
    expect(spec.paths['/api/v1/chat/agents'].post.responses['403']).toBeDefined();
    expect(spec.paths['/metrics'].get).toMatchObject({ security: [], responses: { '200': { content: { 'text/plain': {} } } } });
  });

  it('reports liveness and MongoDB readiness', async () => {
    await t.http().get('/api/v1/health').expect(200, { status: 'ok', info: {}, error: {}, details: {} });
    const ready = await t.http().get('/api/v1/health/ready').expect(200);
    expect(ready.body).toMatchObject({ status: 'ok', info: { mongodb: { status: 'up' } } });
  });

  it('answers readiness 503 with the standard error body when MongoDB goes away, while liveness stays 200', async () => {
    const store = await resolveMongoStore({ persistence: 'memory' });
    const previous = process.env.TEST_MONGODB_URI;
    process.env.TEST_MONGODB_URI = store.uri;
    const doomed = await startTestApp().finally(() => {
      process.env.TEST_MONGODB_URI = previous;
    });
    try {
      await store.stop();
      const response = await doomed.http().get('/api/v1/health/ready').expect(503);
      expect(response.body).toMatchObject({
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'SERVICE_UNAVAILABLE',
        details: { status: 'error', error: { mongodb: { status: 'down' } } },
      });
      await doomed.http().get('/api/v1/health').expect(200);
    } finally {
      await doomed.app.close();
    }
  }, 60_000);
});
