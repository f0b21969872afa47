import { TestApp, startTestApp } from '../support/test-app.js';

interface Schema {
  $ref?: string;
  type?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minProperties?: number;
  additionalProperties?: unknown;
  enum?: unknown[];
  properties?: Record<string, Schema>;
  items?: Schema;
}
interface Parameter {
  name: string;
  in: string;
  schema: Schema;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}
interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

describe('The contract is exact', () => {
  let t: TestApp;
  let spec: Spec;
  beforeAll(async () => {
    t = await startTestApp();
    spec = (await t.http().get('/api/docs-json').expect(200)).body as Spec;
  });
  afterAll(() => t.close());

  const operation = (method: string, path: string): Operation => {
    const found = spec.paths[path]?.[method];
    if (!found) throw new Error(`${method.toUpperCase()} ${path} is not documented`);
    return found;
  };
  const parameter = (method: string, path: string, name: string): Schema => {
    const found = operation(method, path).parameters?.find((candidate) => candidate.name === name);
    if (!found) throw new Error(`${name} is not a parameter of ${method.toUpperCase()} ${path}`);
    return found.schema;
  };

  describe('unsupported methods', () => {
    it('answers 405 with Allow and the standard error body for a method a path does not serve', async () => {
      const response = await t
        .http()
        .put('/api/v1/chat/conversations/665f1c2e9b1d8a0012345678')
        .set(t.auth('alice', ['warehouse_operator']))
        .send({})
        .expect(405);
      expect(response.headers.allow).toBe('DELETE, GET, HEAD, OPTIONS, PATCH');
      expect(response.headers['x-request-id']).toBeDefined();
      expect(response.body).toEqual({
        statusCode: 405,
        error: 'Method Not Allowed',
        code: 'METHOD_NOT_ALLOWED',
        message: expect.stringContaining('PUT is not allowed'),
      });
    });

    it('names the methods of the most literal route where routes overlap (/conversations/export, not /conversations/:id)', async () => {
      const response = await t.http().patch('/api/v1/chat/conversations/export').expect(405);
      expect(response.headers.allow).toBe('GET, HEAD, OPTIONS');
    });

    it('answers 405 before authentication, and TRACE on the health probe too', async () => {
      const response = await t.http().delete('/api/v1/chat/user/preferences').expect(405);
      expect(response.headers.allow).toBe('GET, HEAD, OPTIONS, PUT');
      expect(response.body.code).toBe('METHOD_NOT_ALLOWED');
      const health = await t.http().trace('/api/v1/health').expect(405);
      expect(health.headers.allow).toBe('GET, HEAD, OPTIONS');
    });

    it('serves HEAD wherever GET is served (load balancers probe with it)', async () => {
      await t.http().head('/api/v1/health').expect(200);
      await t.http().head('/api/v1/health/ready').expect(200);
      await t.http().head('/api/v1/chat/conversations').expect(401);
    });

    it('answers OPTIONS with 204 and Allow, and an unknown path still with 404', async () => {
      const options = await t.http().options('/api/v1/chat/conversations').expect(204);
      expect(options.headers.allow).toBe('GET, HEAD, OPTIONS, POST');
      const missing = await t.http().post('/api/v1/chat/no-such-thing').expect(404);
      expect(missing.body.code).toBe('NOT_FOUND');
    });
  });

  describe('the OpenAPI document', () => {
    it('declares additionalProperties: false on request bodies (and their nested DTOs), leaving metadata free-form', () => {
      const schemas = spec.components.schemas;
      expect(schemas.CreateConversationDto!.additionalProperties).toBe(false);
      expect(schemas.SendMessageDto!.additionalProperties).toBe(false);
      expect(schemas.UpdatePreferencesDto!.additionalProperties).toBe(false);
      expect(schemas.NotificationSettingsDto!.additionalProperties).toBe(false);
      expect(schemas.CreateConversationDto!.properties!.metadata!.additionalProperties).toBe(true);
      // Response schemas stay open.
      expect(schemas.ConversationDto!.additionalProperties).toBeUndefined();
    });

    it('declares path ids as 24 hex digits, and the server refuses a 0x-prefixed 24-character id', async () => {
      for (const [path, name] of [
        ['/api/v1/chat/conversations/{id}', 'id'],
        ['/api/v1/chat/conversations/{id}/messages/{messageId}', 'messageId'],
        ['/api/v1/chat/attachments/{id}', 'id'],
      ] as const) {
        const method = path.endsWith('{messageId}') ? 'delete' : 'get';
        expect(parameter(method, path, name).pattern).toBe('^[0-9a-fA-F]{24}$');
      }
      await t
        .http()
        .get('/api/v1/chat/conversations/0x1234567890abcdef123456')
        .set(t.auth('alice', ['warehouse_operator']))
        .expect(400);
    });

    it('declares integer limits with their bounds, non-empty cursors and the patterns of keys and roles', () => {
      expect(parameter('get', '/api/v1/chat/conversations', 'limit')).toMatchObject({ type: 'integer', minimum: 1, maximum: 100 });
      expect(parameter('get', '/api/v1/chat/conversations/{id}/messages', 'limit')).toMatchObject({
        type: 'integer',
        minimum: 1,
        maximum: 200,
      });
      expect(parameter('get', '/api/v1/chat/admin/export/messages', 'limit')).toMatchObject({ type: 'integer', maximum: 100000 });
      expect(parameter('get', '/api/v1/chat/conversations', 'cursor').minLength).toBe(1);
      expect(parameter('get', '/api/v1/chat/agents/{key}/versions/{version}', 'version')).toMatchObject({ type: 'integer', minimum: 1 });
      expect(parameter('get', '/api/v1/chat/agents/{key}', 'key').pattern).toBeDefined();
      expect(spec.components.schemas.CreateAgentDto!.properties!.allowedRoles!.items).toMatchObject({
        type: 'string',
        pattern: '^[a-z][a-z0-9_]{0,63}$',
      });
      expect(spec.components.schemas.SendMessageDto!.properties!.content).toMatchObject({ minLength: 1, maxLength: 32000 });
      expect(spec.components.schemas.UpdateConversationDto!.minProperties).toBe(1);
    });

    it('documents each export route with exactly the content types it serves, JSON as an object', () => {
      const one = operation('get', '/api/v1/chat/conversations/{id}/export').responses['200']!.content!;
      expect(Object.keys(one).sort()).toEqual(['application/json', 'application/pdf', 'text/csv', 'text/markdown']);
      expect(one['application/json']!.schema.type).toBe('object');
      const all = operation('get', '/api/v1/chat/conversations/export').responses['200']!.content!;
      expect(Object.keys(all).sort()).toEqual(['application/json', 'application/zip', 'text/csv']);
      expect(all['application/json']!.schema.type).toBe('object');
    });

    it('documents attachment downloads with the accepted file types, not only application/octet-stream', () => {
      const content = operation('get', '/api/v1/chat/attachments/{id}/content').responses['200']!.content!;
      expect(Object.keys(content)).toEqual(expect.arrayContaining(['image/png', 'application/pdf', 'text/plain']));
      expect(Object.keys(content)).not.toContain('application/octet-stream');
    });
  });

  it('refuses null for an optional property that is not nullable (it used to be stored)', async () => {
    const auth = t.auth('alice', ['warehouse_operator']);
    const { body: conversation } = await t.http().post('/api/v1/chat/conversations').set(auth).send({}).expect(201);
    const refused = await t.http().patch(`/api/v1/chat/conversations/${conversation.id}`).set(auth).send({ status: null }).expect(400);
    expect(refused.body.code).toBe('VALIDATION_FAILED');
    const { body: after } = await t.http().get(`/api/v1/chat/conversations/${conversation.id}`).set(auth).expect(200);
    expect(after.status).toBe('active');
  });

  it('recreates an agent under a deleted key, numbering on after the versions the deleted one kept (found by the contract run)', async () => {
    const admin = t.auth('root', ['admin']);
    const agent = {
      key: 'recreated-assistant',
      name: 'R',
      allowedRoles: ['warehouse_operator'],
      systemPrompt: 'Be brief.',
      provider: 'playbook',
    };
    await t.http().post('/api/v1/chat/agents').set(admin).send(agent).expect(201);
    await t.http().delete('/api/v1/chat/agents/recreated-assistant').set(admin).expect(204);
    const { body: again } = await t.http().post('/api/v1/chat/agents').set(admin).send(agent).expect(201);
    expect(again.version).toBe(2);
    const { body: patched } = await t
      .http()
      .patch('/api/v1/chat/agents/recreated-assistant')
      .set(admin)
      .send({ systemPrompt: 'Be kind.' })
      .expect(200);
    expect(patched.version).toBe(3);
    await t.http().get('/api/v1/chat/agents/recreated-assistant/versions/1').set(admin).expect(200);
  });
});
