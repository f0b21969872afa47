import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { promisify } from 'node:util';
import jwt from 'jsonwebtoken';
import { TEST_JWT_SECRET, TestApp, startTestApp } from '../support/test-app.js';

const LIST = '/api/v1/chat/conversations';
const run = promisify(execFile);

function unsignedToken(claims: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
}

describe('Authentication', () => {
  describe('with HS256 (JWT_SECRET)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(() => t.close());

    const expectUnauthorized = async (authorization: string | undefined, message: RegExp) => {
      const call = t.http().get(LIST);
      if (authorization !== undefined) call.set('Authorization', authorization);
      const response = await call.expect(401);
      expect(response.body).toEqual({
        statusCode: 401,
        error: 'Unauthorized',
        code: 'UNAUTHORIZED',
        message: expect.stringMatching(message),
      });
    };

    it('accepts a valid token', async () => {
      await t.http().get(LIST).set(t.auth('alice')).expect(200);
    });

    it('answers 401 without a token', () => expectUnauthorized(undefined, /Missing bearer token/));
    it('answers 401 for a non-bearer scheme', () =>
      expectUnauthorized(`Basic ${Buffer.from('a:b').toString('base64')}`, /Missing bearer token/));
    it('answers 401 for an expired token', () =>
      expectUnauthorized(`Bearer ${jwt.sign({ sub: 'alice', roles: [] }, TEST_JWT_SECRET, { expiresIn: -10 })}`, /expired/));
    it('answers 401 for a token signed with another secret', () =>
      expectUnauthorized(`Bearer ${jwt.sign({ sub: 'alice', roles: [] }, 'another-secret-another-secret-another')}`, /invalid/));
    it('answers 401 for an unsigned token (alg: none)', () =>
      expectUnauthorized(`Bearer ${unsignedToken({ sub: 'alice', roles: ['admin'] })}`, /invalid/));
    it('answers 401 for a token not yet valid', () =>
      expectUnauthorized(`Bearer ${jwt.sign({ sub: 'alice' }, TEST_JWT_SECRET, { notBefore: 3600 })}`, /not valid yet/));
    it('answers 401 for garbage', () => expectUnauthorized('Bearer not.a.jwt', /invalid/));
    it('answers 401 for a token without sub', () =>
      expectUnauthorized(`Bearer ${jwt.sign({ roles: ['supervisor'] }, TEST_JWT_SECRET)}`, /sub/));
    it('answers 401 for a sub that is an object', () =>
      expectUnauthorized(`Bearer ${jwt.sign({ sub: { $ne: null } }, TEST_JWT_SECRET)}`, /sub/));
    it('answers 401 for roles that are not a list of role names', () =>
      expectUnauthorized(`Bearer ${jwt.sign({ sub: 'alice', roles: 'admin' }, TEST_JWT_SECRET)}`, /roles/));
    it('answers 401 for a token that never expires (no exp)', () =>
      expectUnauthorized(`Bearer ${jwt.sign({ sub: 'alice', roles: [] }, TEST_JWT_SECRET)}`, /no expiry \(exp\)/));
    it('answers 401 for a token living longer than JWT_MAX_TTL (24 h by default)', () =>
      expectUnauthorized(`Bearer ${jwt.sign({ sub: 'alice', roles: [] }, TEST_JWT_SECRET, { expiresIn: '25h' })}`, /at most 1 d/));
    it('answers 401 for a token without iat whose exp is further away than JWT_MAX_TTL', () =>
      expectUnauthorized(
        `Bearer ${jwt.sign({ sub: 'alice', roles: [], exp: Math.floor(Date.now() / 1000) + 2 * 86_400 }, TEST_JWT_SECRET, { noTimestamp: true })}`,
        /lives too long/,
      ));
    it('answers 401 for a token whose iat is moved forward to hide a long life', () =>
      expectUnauthorized(
        `Bearer ${jwt.sign({ sub: 'alice', roles: [], iat: Math.floor(Date.now() / 1000) + 29 * 86_400, exp: Math.floor(Date.now() / 1000) + 30 * 86_400 }, TEST_JWT_SECRET)}`,
        /lives too long/,
      ));

    it('echoes a well-formed x-request-id and makes one up otherwise', async () => {
      const echoed = await t.http().get(LIST).set('x-request-id', 'trace-123').expect(401);
      expect(echoed.headers['x-request-id']).toBe('trace-123');
      const generated = await t.http().get(LIST).set('x-request-id', 'bad id with spaces').expect(401);
      expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('accepts the token printed by npm run token for the configured secret', async () => {
      const { stdout } = await run('node', ['scripts/token.js', '--sub', 'cli-user', '--roles', 'supervisor,warehouse_operator'], {
        env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET },
      });
      const created = await t.http().post(LIST).set('Authorization', `Bearer ${stdout.trim()}`).send({}).expect(201);
      expect(created.body).toMatchObject({ userId: 'cli-user', role: 'supervisor' });
    });

    it('keeps health probes public', async () => {
      await t.http().get('/api/v1/health').expect(200);
    });
  });

  describe('with JWT_MAX_TTL', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp({ JWT_MAX_TTL: '10m' });
    });
    afterAll(() => t.close());

    it('accepts a token living up to JWT_MAX_TTL and refuses a longer one with 401 saying why', async () => {
      await t
        .http()
        .get(LIST)
        .set('Authorization', `Bearer ${t.token('ttl-user', ['supervisor'], {}, { expiresIn: '10m' })}`)
        .expect(200);
      const refused = await t
        .http()
        .get(LIST)
        .set('Authorization', `Bearer ${t.token('ttl-user', ['supervisor'], {}, { expiresIn: '11m' })}`)
        .expect(401);
      expect(refused.body).toMatchObject({ code: 'UNAUTHORIZED', message: expect.stringMatching(/at most 10 min/) });
    });

    it('refuses a bad JWT_MAX_TTL at boot, naming the variable', async () => {
      await expect(startTestApp({ JWT_MAX_TTL: '8 hours' })).rejects.toThrow(/JWT_MAX_TTL: must be a duration/);
      await expect(startTestApp({ JWT_MAX_TTL: '0' })).rejects.toThrow(/JWT_MAX_TTL/);
    });
  });

  describe('with RS256 (JWT_PUBLIC_KEY), issuer and audience', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const sign = (options: jwt.SignOptions) =>
      jwt.sign({ sub: 'dana', roles: ['supervisor'] }, privateKey, { algorithm: 'RS256', expiresIn: '5m', ...options });
    let t: TestApp;

    beforeAll(async () => {
      t = await startTestApp({
        JWT_SECRET: '',
        JWT_PUBLIC_KEY: publicPem.replace(/\n/g, '\\n'),
        JWT_ISSUER: 'https://idp.wms.example',
        JWT_AUDIENCE: 'wms-chat',
      });
    });
    afterAll(() => t.close());

    it('accepts a token signed by the identity provider for this audience', async () => {
      await t
        .http()
        .get(LIST)
        .set('Authorization', `Bearer ${sign({ issuer: 'https://idp.wms.example', audience: 'wms-chat' })}`)
        .expect(200);
    });

    it('refuses the wrong issuer or audience', async () => {
      const wrongIssuer = await t
        .http()
        .get(LIST)
        .set('Authorization', `Bearer ${sign({ issuer: 'https://evil.example', audience: 'wms-chat' })}`)
        .expect(401);
      expect(wrongIssuer.body.message).toMatch(/not issued for this service/);
      await t
        .http()
        .get(LIST)
        .set('Authorization', `Bearer ${sign({ issuer: 'https://idp.wms.example', audience: 'other-app' })}`)
        .expect(401);
    });

    it('refuses an HS256 token signed with the public key as secret (algorithm confusion)', async () => {
      const forged = jwt.sign({ sub: 'dana', roles: ['admin'], iss: 'https://idp.wms.example', aud: 'wms-chat' }, publicPem, {
        algorithm: 'HS256',
      });
      await t.http().get(LIST).set('Authorization', `Bearer ${forged}`).expect(401);
    });
  });
});
