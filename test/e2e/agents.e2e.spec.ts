import { jest } from '@jest/globals';
import { AuditLog } from '../../src/compliance/audit/audit-log.service.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const AGENTS = '/api/v1/chat/agents';
const CONVERSATIONS = '/api/v1/chat/conversations';

describe('Agents', () => {
  let t: TestApp;
  const admin = () => t.auth('root', ['admin']);
  const newAgent = (key: string, overrides: Record<string, unknown> = {}) => ({
    key,
    name: `Agent ${key}`,
    allowedRoles: ['warehouse_operator'],
    systemPrompt: 'You help with returns.',
    provider: 'playbook',
    knowledgeBase: [{ id: 'r-1', title: 'Returns', content: 'Inspect every returned unit.', tags: ['returns'] }],
    ...overrides,
  });

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  describe('GET /chat/agents', () => {
    it.each([
      [['warehouse_operator'], ['picking-assistant']],
      [['inventory_manager'], ['inventory-assistant']],
      [['supervisor'], ['inventory-assistant', 'operations-assistant', 'picking-assistant']],
      [['admin'], []],
    ])('lists for roles %j the seeded agents %j', async (roles, keys) => {
      const response = await t.http().get(AGENTS).set(t.auth('someone', roles)).expect(200);
      expect(response.body.map((agent: { key: string }) => agent.key)).toEqual(keys);
    });

    it('shows users no prompt, settings or playbook', async () => {
      const response = await t
        .http()
        .get(AGENTS)
        .set(t.auth('op', ['warehouse_operator']))
        .expect(200);
      expect(Object.keys(response.body[0]).sort()).toEqual(['allowedRoles', 'defaultForRoles', 'description', 'key', 'name', 'version']);
    });
  });

  describe('administration', () => {
    it('is for admins only', async () => {
      const operator = t.auth('op', ['warehouse_operator', 'supervisor']);
      await t.http().post(AGENTS).set(operator).send(newAgent('sneaky')).expect(403);
      await t.http().get(`${AGENTS}/admin`).set(operator).expect(403);
      await t.http().patch(`${AGENTS}/picking-assistant`).set(operator).send({ systemPrompt: 'x' }).expect(403);
      await t.http().delete(`${AGENTS}/picking-assistant`).set(operator).expect(403);
      const response = await t.http().get(`${AGENTS}/picking-assistant`).set(operator).expect(403);
      expect(response.body).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
    });

    it('creates an agent at version 1, and refuses a duplicate key with 409', async () => {
      const created = await t.http().post(AGENTS).set(admin()).send(newAgent('returns-assistant')).expect(201);
      expect(created.body).toMatchObject({
        key: 'returns-assistant',
        version: 1,
        enabled: true,
        provider: 'playbook',
        temperature: 0.2,
        maxTokens: 512,
      });
      const duplicate = await t.http().post(AGENTS).set(admin()).send(newAgent('returns-assistant')).expect(409);
      expect(duplicate.body.code).toBe('DUPLICATE_KEY');
    });

    it('makes a new version for changes to what shapes answers, and keeps each version', async () => {
      await t.http().post(AGENTS).set(admin()).send(newAgent('versioned')).expect(201);
      const renamed = await t.http().patch(`${AGENTS}/versioned`).set(admin()).send({ name: 'Renamed' }).expect(200);
      expect(renamed.body).toMatchObject({ name: 'Renamed', version: 1 });
      const reprompted = await t
        .http()
        .patch(`${AGENTS}/versioned`)
        .set(admin())
        .send({ systemPrompt: 'You help with returns, briefly.' })
        .expect(200);
      expect(reprompted.body.version).toBe(2);
      const sameAgain = await t
        .http()
        .patch(`${AGENTS}/versioned`)
        .set(admin())
        .send({ systemPrompt: 'You help with returns, briefly.' })
        .expect(200);
      expect(sameAgain.body.version).toBe(2);
      const retuned = await t.http().patch(`${AGENTS}/versioned`).set(admin()).send({ temperature: 0.7 }).expect(200);
      expect(retuned.body.version).toBe(3);

      const first = await t.http().get(`${AGENTS}/versioned/versions/1`).set(admin()).expect(200);
      expect(first.body).toMatchObject({ agentKey: 'versioned', version: 1, systemPrompt: 'You help with returns.', temperature: 0.2 });
      await t.http().get(`${AGENTS}/versioned/versions/9`).set(admin()).expect(404);
      await t.http().get(`${AGENTS}/versioned/versions/0`).set(admin()).expect(400);
      await t
        .http()
        .get(`${AGENTS}/versioned/versions/1`)
        .set(t.auth('op', ['supervisor']))
        .expect(403);

      const versions = await t.db.collection('chat_agent_versions').find({ agentKey: 'versioned' }).sort({ version: 1 }).toArray();
      expect(versions.map((version) => [version.version, version.systemPrompt, version.temperature])).toEqual([
        [1, 'You help with returns.', 0.2],
        [2, 'You help with returns, briefly.', 0.2],
        [3, 'You help with returns, briefly.', 0.7],
      ]);
    });

    it.each([
      ['a malformed key', { key: 'Bad Key' }],
      ['the reserved key admin', { key: 'admin' }],
      ['an unknown provider', { provider: 'magic' }],
      ['a temperature above 2', { temperature: 3 }],
      ['a malformed role', { allowedRoles: ['Admin!'] }],
      ['a knowledge entry without content', { knowledgeBase: [{ id: 'x', title: 'x' }] }],
      ['an unknown field', { secret: true }],
    ])('refuses %s with 400', async (_case, overrides) => {
      const response = await t.http().post(AGENTS).set(admin()).send(newAgent('invalid-agent', overrides)).expect(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
    });

    it('refuses an empty change with 400', async () => {
      const response = await t.http().patch(`${AGENTS}/picking-assistant`).set(admin()).send({}).expect(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
    });

    it('refuses to change the key, and answers 404 for an unknown agent', async () => {
      await t.http().patch(`${AGENTS}/picking-assistant`).set(admin()).send({ key: 'renamed' }).expect(400);
      await t.http().patch(`${AGENTS}/no-such-agent`).set(admin()).send({ name: 'x' }).expect(404);
      await t.http().delete(`${AGENTS}/no-such-agent`).set(admin()).expect(404);
    });

    it('fails a change the audit log could not record with a 500 saying the change is stored, never a 2xx', async () => {
      const record = jest.spyOn(t.app.get(AuditLog), 'record').mockRejectedValueOnce(new Error('the audit store is gone'));
      try {
        const response = await t.http().post(AGENTS).set(admin()).send(newAgent('unaudited')).expect(500);
        expect(response.body).toMatchObject({
          code: 'INTERNAL_ERROR',
          message: expect.stringContaining('stored'),
          details: { agentKey: 'unaudited', change: 'created', version: 1, stored: true, audited: false },
        });
        expect(record).toHaveBeenCalledTimes(1);
      } finally {
        record.mockRestore();
      }
      // The change itself was made, as the answer said; the next one is recorded again.
      await t.http().get(`${AGENTS}/unaudited`).set(admin()).expect(200);
      await t.http().patch(`${AGENTS}/unaudited`).set(admin()).send({ name: 'Audited now' }).expect(200);
      const entries = await t.db.collection('chat_audit_log').find({ action: 'agent.changed', 'target.id': 'unaudited' }).toArray();
      expect(entries.map((entry) => entry.details.change)).toEqual(['updated']);

      const spec = (await t.http().get('/api/docs-json').expect(200)).body as {
        paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
      };
      for (const [path, method] of [
        ['/api/v1/chat/agents', 'post'],
        ['/api/v1/chat/agents/{key}', 'patch'],
        ['/api/v1/chat/agents/{key}', 'delete'],
      ] as const) {
        expect(spec.paths[path]![method]!.responses['500']!.description).toContain('`details.stored: true`');
      }
    });

    it('deletes an agent; its versions stay for tracing past answers', async () => {
      await t.http().post(AGENTS).set(admin()).send(newAgent('short-lived')).expect(201);
      await t.http().delete(`${AGENTS}/short-lived`).set(admin()).expect(204);
      await t.http().get(`${AGENTS}/short-lived`).set(admin()).expect(404);
      expect(await t.db.collection('chat_agent_versions').countDocuments({ agentKey: 'short-lived' })).toBe(1);
    });
  });

  describe('choosing the agent of a new conversation', () => {
    it('takes the role’s default agent by default and records it', async () => {
      const response = await t
        .http()
        .post(CONVERSATIONS)
        .set(t.auth('op', ['warehouse_operator']))
        .send({})
        .expect(201);
      expect(response.body).toMatchObject({ role: 'warehouse_operator', agentKey: 'picking-assistant' });
    });

    it('takes the default agent of the role asked for', async () => {
      const response = await t
        .http()
        .post(CONVERSATIONS)
        .set(t.auth('lead', ['warehouse_operator', 'supervisor']))
        .send({ role: 'supervisor' })
        .expect(201);
      expect(response.body).toMatchObject({ role: 'supervisor', agentKey: 'operations-assistant' });
    });

    it('takes an agent asked for by key', async () => {
      const response = await t
        .http()
        .post(CONVERSATIONS)
        .set(t.auth('lead', ['supervisor']))
        .send({ agentKey: 'inventory-assistant' })
        .expect(201);
      expect(response.body).toMatchObject({ role: 'supervisor', agentKey: 'inventory-assistant' });
    });

    it('refuses an agent the user’s roles may not use with 403 and stores nothing', async () => {
      const before = await t.db.collection('chat_conversations').countDocuments();
      const response = await t
        .http()
        .post(CONVERSATIONS)
        .set(t.auth('op', ['warehouse_operator']))
        .send({ agentKey: 'operations-assistant' })
        .expect(403);
      expect(response.body).toMatchObject({ code: 'AGENT_NOT_ALLOWED', message: expect.stringContaining('operations-assistant') });
      expect(await t.db.collection('chat_conversations').countDocuments()).toBe(before);
    });

    it('answers 400 for an unknown agent and for a disabled one', async () => {
      const unknown = await t
        .http()
        .post(CONVERSATIONS)
        .set(t.auth('op', ['warehouse_operator']))
        .send({ agentKey: 'ghost-agent' })
        .expect(400);
      expect(unknown.body).toMatchObject({ code: 'UNKNOWN_AGENT', details: [{ field: 'agentKey' }] });
      await t
        .http()
        .post(AGENTS)
        .set(admin())
        .send(newAgent('disabled-agent', { enabled: false }))
        .expect(201);
      const disabled = await t
        .http()
        .post(CONVERSATIONS)
        .set(t.auth('op', ['warehouse_operator']))
        .send({ agentKey: 'disabled-agent' })
        .expect(400);
      expect(disabled.body.code).toBe('AGENT_DISABLED');
    });

    it('uses the user’s preferred agent when nothing is asked for', async () => {
      const headers = t.auth('picky', ['supervisor']);
      await t.http().put('/api/v1/chat/user/preferences').set(headers).send({ defaultAgentKey: 'inventory-assistant' }).expect(200);
      const response = await t.http().post(CONVERSATIONS).set(headers).send({}).expect(201);
      expect(response.body.agentKey).toBe('inventory-assistant');
    });
  });
});
