import mongoose from 'mongoose';
import type { Test } from 'supertest';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import type { UserDataProvider } from '../../src/common/user-data/user-data.js';
import { AuditLog } from '../../src/compliance/audit/audit-log.service.js';
import { LegalHoldsService } from '../../src/compliance/holds/legal-holds.service.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const HOLDS = '/api/v1/chat/admin/legal-holds';
const ADMIN = ['admin'];
const MISSING_ID = '665f1c2e9b1d8a0012345678';

describe('Legal holds', () => {
  let t: TestApp;
  let holds: LegalHoldsService;
  const admin = () => t.auth('compliance-officer', ADMIN);
  const stored = () => t.db.collection('chat_legal_holds');
  const audit = () => t.db.collection('chat_audit_log');

  beforeAll(async () => {
    t = await startTestApp();
    holds = t.app.get(LegalHoldsService);
  });
  afterAll(() => t.close());

  async function place(
    target: 'user' | 'conversation',
    targetId: string,
    reason = 'Litigation 2025-017',
  ): Promise<Record<string, unknown>> {
    return (await t.http().post(HOLDS).set(admin()).send({ target, targetId, reason }).expect(201)).body;
  }

  async function conversationOf(user: string): Promise<string> {
    return (await t.http().post('/api/v1/chat/conversations').set(t.auth(user)).send({}).expect(201)).body.id;
  }

  async function heldError(
    promise: Promise<unknown>,
  ): Promise<{ status: number; code: string; details: { holdId: string; holdIds: string[] } }> {
    const error = (await promise.then(
      () => null,
      (reason: unknown) => reason,
    )) as { getStatus(): number; getResponse(): { code: string; details: { holdId: string; holdIds: string[] } } } | null;
    if (!error) throw new Error('expected a LEGAL_HOLD refusal');
    return { status: error.getStatus(), ...error.getResponse() };
  }

  it('places a hold on a user, answers it, and blocks that user until it is released', async () => {
    const hold = await place('user', 'picker-17', '  Litigation 2025-017: keep everything of the picker  ');
    expect(hold).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{24}$/),
      target: 'user',
      targetId: 'picker-17',
      targetFound: null,
      conversationOwnerId: null,
      reason: 'Litigation 2025-017: keep everything of the picker',
      active: true,
      placedBy: { userId: 'compliance-officer', roles: ['admin'] },
      placedAt: expect.any(String),
      releasedAt: null,
      releasedBy: null,
      releaseReason: null,
    });
    expect(
      (
        await t
          .http()
          .get(`${HOLDS}/${hold.id as string}`)
          .set(admin())
          .expect(200)
      ).body,
    ).toEqual(hold);

    const refused = await heldError(holds.assertUserNotHeld('picker-17'));
    expect(refused).toMatchObject({ status: 409, code: 'LEGAL_HOLD', details: { holdId: hold.id, holdIds: [hold.id] } });
    await expect(holds.assertUserNotHeld('someone-else')).resolves.toBeUndefined();
    expect([...(await holds.heldUserIds(['picker-17', 'someone-else', 'picker-17']))]).toEqual(['picker-17']);

    const released = await t
      .http()
      .post(`${HOLDS}/${hold.id as string}/release`)
      .set(t.auth('second-officer', ADMIN))
      .send({ reason: 'Matter settled' })
      .expect(200);
    expect(released.body).toMatchObject({
      id: hold.id,
      active: false,
      releasedAt: expect.any(String),
      releasedBy: { userId: 'second-officer', roles: ['admin'] },
      releaseReason: 'Matter settled',
      alreadyReleased: false,
    });
    await expect(holds.assertUserNotHeld('picker-17')).resolves.toBeUndefined();
    expect((await holds.heldUserIds(['picker-17'])).size).toBe(0);

    // Releasing again changes nothing and says so.
    const again = await t
      .http()
      .post(`${HOLDS}/${hold.id as string}/release`)
      .set(admin())
      .send({ reason: 'Once more' })
      .expect(200);
    expect(again.body).toEqual({ ...released.body, alreadyReleased: true });
  });

  it('holds a conversation, which also blocks erasing its owner; a missing conversation can be held too, flagged', async () => {
    const conversationId = await conversationOf('conversation-owner');
    const hold = await place('conversation', conversationId.toUpperCase());
    expect(hold).toMatchObject({
      target: 'conversation',
      targetId: conversationId,
      targetFound: true,
      conversationOwnerId: 'conversation-owner',
    });

    expect([...(await holds.heldConversationIds([new mongoose.Types.ObjectId(conversationId), MISSING_ID]))]).toEqual([conversationId]);
    expect(await heldError(holds.assertConversationNotHeld(conversationId))).toMatchObject({ status: 409, code: 'LEGAL_HOLD' });
    expect(await heldError(holds.assertUserNotHeld('conversation-owner'))).toMatchObject({
      status: 409,
      code: 'LEGAL_HOLD',
      details: { holdId: hold.id },
    });

    const missing = await place('conversation', MISSING_ID, 'Restore expected from backup');
    expect(missing).toMatchObject({ targetId: MISSING_ID, targetFound: false, conversationOwnerId: null, active: true });
    expect(await heldError(holds.assertConversationNotHeld(MISSING_ID))).toMatchObject({ code: 'LEGAL_HOLD' });

    await t
      .http()
      .post(`${HOLDS}/${hold.id as string}/release`)
      .set(admin())
      .send({ reason: 'done' })
      .expect(200);
    await expect(holds.assertUserNotHeld('conversation-owner')).resolves.toBeUndefined();
    await expect(holds.assertConversationNotHeld(conversationId)).resolves.toBeUndefined();
  });

  it('lists holds newest first, filtered by active, target and targetId, page by page', async () => {
    const first = await place('user', 'listed-user', 'first');
    const second = await place('user', 'listed-user', 'second');
    const third = await place('user', 'listed-user', 'third');
    await t
      .http()
      .post(`${HOLDS}/${second.id as string}/release`)
      .set(admin())
      .send({ reason: 'over' })
      .expect(200);

    const page1 = await t.http().get(HOLDS).query({ targetId: 'listed-user', limit: '2' }).set(admin()).expect(200);
    expect(page1.body.items.map((hold: { reason: string }) => hold.reason)).toEqual(['third', 'second']);
    expect(page1.body.nextCursor).toEqual(expect.any(String));
    const page2 = await t
      .http()
      .get(HOLDS)
      .query({ targetId: 'listed-user', limit: '2', cursor: page1.body.nextCursor })
      .set(admin())
      .expect(200);
    expect(page2.body).toEqual({ items: [expect.objectContaining({ id: first.id })], nextCursor: null });

    const active = await t.http().get(HOLDS).query({ targetId: 'listed-user', active: 'true' }).set(admin()).expect(200);
    expect(active.body.items.map((hold: { id: string }) => hold.id)).toEqual([third.id, first.id]);
    const released = await t.http().get(HOLDS).query({ targetId: 'listed-user', active: 'false' }).set(admin()).expect(200);
    expect(released.body.items.map((hold: { id: string }) => hold.id)).toEqual([second.id]);
    const conversations = await t.http().get(HOLDS).query({ target: 'conversation', targetId: 'listed-user' }).set(admin()).expect(200);
    expect(conversations.body.items).toEqual([]);

    // A cursor belongs to the listing (and filters) that issued it.
    const replayed = await t.http().get(HOLDS).query({ targetId: 'someone', cursor: page1.body.nextCursor }).set(admin()).expect(400);
    expect(replayed.body.code).toBe('INVALID_CURSOR');
  });

  it('records placing and releasing in the audit log', async () => {
    const hold = await place('user', 'audited-user', 'Audit me');
    await t
      .http()
      .post(`${HOLDS}/${hold.id as string}/release`)
      .set(admin())
      .send({ reason: 'Audited' })
      .expect(200);
    const entries = await audit().find({ 'target.id': hold.id }).sort({ seq: 1 }).toArray();
    expect(entries).toEqual([
      expect.objectContaining({
        action: 'legal-hold.placed',
        actor: expect.objectContaining({ userId: 'compliance-officer', roles: ['admin'] }),
        subject: expect.objectContaining({ userId: 'audited-user' }),
        target: { type: 'legal-hold', id: hold.id },
        details: { target: 'user', reason: 'Audit me' },
      }),
      expect.objectContaining({
        action: 'legal-hold.released',
        target: { type: 'legal-hold', id: hold.id },
        details: { target: 'user', reason: 'Audited' },
      }),
    ]);
  });

  describe('as user data', () => {
    const provider = (): UserDataProvider =>
      t.app
        .get(UserDataRegistry)
        .userDataProviders()
        .find((each) => each.name === 'legal-holds')!;

    async function exported(userId: string): Promise<Record<string, Record<string, unknown>[]>> {
      const parts: Record<string, Record<string, unknown>[]> = {};
      for await (const part of provider().export(userId)) {
        if (part.kind !== 'records') continue;
        parts[part.name] = [];
        for await (const record of part.records) parts[part.name]!.push(record);
      }
      return parts;
    }

    it('exports the holds about a person without the admins’ ids, and an admin’s own actions without whom they held', async () => {
      const hold = await place('user', 'exported-user', 'Preserve for audit');
      const parts = await exported('exported-user');
      expect(parts['legal-holds']).toEqual([
        {
          id: hold.id,
          target: 'user',
          conversationId: null,
          reason: 'Preserve for audit',
          placedAt: hold.placedAt,
          placedByRoles: 'admin',
          releasedAt: null,
          releaseReason: null,
        },
      ]);
      expect(JSON.stringify(parts)).not.toContain('compliance-officer');
      expect(parts['legal-holds-acted-on']).toBeUndefined();

      const officer = await exported('compliance-officer');
      expect(officer['legal-holds-acted-on']).toEqual(expect.arrayContaining([expect.objectContaining({ id: hold.id, placed: true })]));
      expect(JSON.stringify(officer['legal-holds-acted-on'])).not.toContain('exported-user');
      expect(await provider().inventory('exported-user')).toEqual({ chat_legal_holds: 1 });
    });

    it('refuses to erase a person on hold; after the release, erasing leaves only the audit hash of their id', async () => {
      const hold = await place('user', 'erased-user', 'Hold before erasure');
      await expect(provider().erase('erased-user')).rejects.toMatchObject({ response: expect.objectContaining({ code: 'LEGAL_HOLD' }) });
      await t
        .http()
        .post(`${HOLDS}/${hold.id as string}/release`)
        .set(admin())
        .send({ reason: 'released' })
        .expect(200);

      expect(await provider().erase('erased-user')).toEqual({ chat_legal_holds: 1 });
      const hash = await t.app.get(AuditLog).userIdHash('erased-user');
      const record = await stored().findOne({ _id: new mongoose.Types.ObjectId(hold.id as string) });
      expect(record).toMatchObject({ target: 'user', targetId: hash, reason: 'Hold before erasure' });
      expect(await stored().countDocuments({ targetId: 'erased-user' })).toBe(0);
      expect(await provider().erase('erased-user')).toEqual({ chat_legal_holds: 0 });
    });

    it('erasing an admin replaces their id where they placed or released holds, and the holds stay in force', async () => {
      const officer = t.auth('leaving-officer', ADMIN);
      const kept = (await t.http().post(HOLDS).set(officer).send({ target: 'user', targetId: 'kept-user', reason: 'Ongoing' }).expect(201))
        .body;
      expect(await provider().erase('leaving-officer')).toEqual({ chat_legal_holds: 1 });
      const hash = await t.app.get(AuditLog).userIdHash('leaving-officer');
      expect(await stored().findOne({ _id: new mongoose.Types.ObjectId(kept.id as string) })).toMatchObject({
        placedBy: { userId: hash, roles: ['admin'] },
        releasedAt: null,
      });
      expect(await stored().countDocuments({ 'placedBy.userId': 'leaving-officer' })).toBe(0);
      expect(await heldError(holds.assertUserNotHeld('kept-user'))).toMatchObject({ code: 'LEGAL_HOLD' });
    });
  });

  describe('validation', () => {
    it.each([
      ['no reason', { target: 'user', targetId: 'x' }],
      ['a blank reason', { target: 'user', targetId: 'x', reason: '   ' }],
      ['a reason over 1000 characters', { target: 'user', targetId: 'x', reason: 'r'.repeat(1001) }],
      ['an unknown target', { target: 'site', targetId: 'x', reason: 'r' }],
      ['a malformed user id', { target: 'user', targetId: 'not a user id', reason: 'r' }],
      ['a conversation id that is not 24 hex digits', { target: 'conversation', targetId: 'picker-17', reason: 'r' }],
      ['an unknown field', { target: 'user', targetId: 'x', reason: 'r', until: '2030-01-01' }],
    ])('refuses to place a hold with %s (400)', async (_case, body) => {
      const response = await t.http().post(HOLDS).set(admin()).send(body).expect(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
    });

    it('accepts a reason of exactly 1000 characters', async () => {
      await t
        .http()
        .post(HOLDS)
        .set(admin())
        .send({ target: 'user', targetId: 'long-reason', reason: 'r'.repeat(1000) })
        .expect(201);
    });

    it('answers 400 for malformed ids, filters and release bodies, and 404 for an unknown hold', async () => {
      await t.http().get(`${HOLDS}/not-an-id`).set(admin()).expect(400);
      expect((await t.http().get(`${HOLDS}/${MISSING_ID}`).set(admin()).expect(404)).body.code).toBe('LEGAL_HOLD_NOT_FOUND');
      const missingRelease = await t.http().post(`${HOLDS}/${MISSING_ID}/release`).set(admin()).send({ reason: 'r' }).expect(404);
      expect(missingRelease.body.code).toBe('LEGAL_HOLD_NOT_FOUND');
      const hold = await place('user', 'validation-user');
      await t
        .http()
        .post(`${HOLDS}/${hold.id as string}/release`)
        .set(admin())
        .send({})
        .expect(400);
      await t
        .http()
        .post(`${HOLDS}/${hold.id as string}/release`)
        .set(admin())
        .send({ reason: ' ' })
        .expect(400);
      for (const query of [
        { active: 'yes' },
        { target: 'site' },
        { limit: '0' },
        { limit: '101' },
        { limit: '1e1' },
        { cursor: 'garbage!' },
      ]) {
        await t.http().get(HOLDS).query(query).set(admin()).expect(400);
      }
      expect(
        (
          await t
            .http()
            .get(`${HOLDS}/${hold.id as string}`)
            .set(admin())
            .expect(200)
        ).body.active,
      ).toBe(true);
    });
  });

  it('refuses every route to non-admins with 403 and to anonymous callers with 401', async () => {
    const hold = await place('user', 'guarded-user');
    const routes: [string, string, object?][] = [
      ['post', HOLDS, { target: 'user', targetId: 'x', reason: 'r' }],
      ['get', HOLDS],
      ['get', `${HOLDS}/${hold.id as string}`],
      ['post', `${HOLDS}/${hold.id as string}/release`, { reason: 'r' }],
    ];
    for (const [method, path, body] of routes) {
      const call = (headers: Record<string, string>) => {
        const request = (t.http() as unknown as Record<string, (path: string) => Test>)[method]!(path).set(headers);
        return body ? request.send(body) : request;
      };
      const forbidden = await call(t.auth('guarded-user', ['supervisor'])).expect(403);
      expect(forbidden.body.code).toBe('FORBIDDEN');
      await call({}).expect(401);
    }
    expect(
      (
        await t
          .http()
          .get(`${HOLDS}/${hold.id as string}`)
          .set(admin())
          .expect(200)
      ).body.active,
    ).toBe(true);
  });
});
