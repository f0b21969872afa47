import mongoose from 'mongoose';
import type { Response, Test } from 'supertest';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import type { UserDataProvider } from '../../src/common/user-data/user-data.js';
import { AuditLog } from '../../src/compliance/audit/audit-log.service.js';
import { LegalHoldsService } from '../../src/compliance/holds/legal-holds.service.js';
import { TestApp, startTestApp } from '../support/test-app.js';
import { SeededUser, seedUser } from '../support/user-data-seed.js';

const HOLDS = '/api/v1/chat/admin/legal-holds';
const ADMIN = ['admin'];
const MISSING_ID = '665f1c2e9b1d8a0012345678';
const API = '/api/v1/chat';

/** supertest option: collect any body as a Buffer. */
function buffer(res: Response, done: (error: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

describe('Legal holds', () => {
  let t: TestApp;
  let holds: LegalHoldsService;
  const admin = () => t.auth('compliance-officer', ADMIN);
  const stored = () => t.db.collection('chat_legal_holds');
  const audit = () => t.db.collection('chat_audit_log');

  beforeAll(async () => {
    t = await startTestApp({ CHAT_RATE_LIMIT_PER_MINUTE: '10000' });
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

  describe('a hold stops its owner’s own deletes for good', () => {
    /** The three deletes a user can make of what a hold keeps, on the seeded user's first conversation. */
    const deletes = (user: SeededUser, conversation = 0) => ({
      message: () =>
        t
          .http()
          .delete(`${API}/conversations/${user.conversationIds[conversation]}/messages/${user.userMessageIds[conversation]}`)
          .set(t.auth(user.userId)),
      attachment: () => t.http().delete(`${API}/attachments/${user.attachmentIds[0]}`).set(t.auth(user.userId)),
      conversation: () =>
        t.http().delete(`${API}/conversations/${user.conversationIds[conversation]}`).query({ permanent: 'true' }).set(t.auth(user.userId)),
    });

    async function expectRefused(request: Test, holdId: unknown): Promise<void> {
      const response = await request.expect(409);
      expect(response.body).toMatchObject({ code: 'LEGAL_HOLD', details: { holdId } });
    }

    /** The seeded user's first conversation is as seeded: visible, its message listed, every file downloadable byte for byte. */
    async function expectIntact(user: SeededUser): Promise<void> {
      const auth = t.auth(user.userId);
      const conversation = await t.http().get(`${API}/conversations/${user.conversationIds[0]}`).set(auth).expect(200);
      expect(conversation.body).toMatchObject({ status: 'active', messageCount: 2 });
      const history = await t.http().get(`${API}/conversations/${user.conversationIds[0]}/messages`).set(auth).expect(200);
      expect(history.body.items.map((message: { id: string }) => message.id)).toEqual([user.userMessageIds[0], user.replyIds[0]]);
      for (const [id, bytes] of user.files) {
        const content = await t.http().get(`${API}/attachments/${id}/content`).set(auth).buffer(true).parse(buffer).expect(200);
        expect((content.body as Buffer).equals(bytes)).toBe(true);
      }
    }

    async function release(holdId: unknown): Promise<void> {
      await t
        .http()
        .post(`${HOLDS}/${holdId as string}/release`)
        .set(admin())
        .send({ reason: 'Matter closed' })
        .expect(200);
    }

    it('a hold on the user refuses deleting a message, an attachment or a conversation for good (409), archiving stays allowed', async () => {
      const user = await seedUser(t, 'held-picker', { conversations: 2 });
      const hold = await place('user', user.userId);
      for (const conversation of [0, 1]) {
        const attempt = deletes(user, conversation);
        await expectRefused(attempt.message(), hold.id);
        await expectRefused(attempt.conversation(), hold.id);
      }
      await expectRefused(deletes(user).attachment(), hold.id);
      await expectIntact(user);
      expect(await t.db.collection('chat_messages').countDocuments({ userId: user.userId })).toBe(4);
      expect(await t.db.collection('chat_attachments').countDocuments({ userId: user.userId })).toBe(2);

      // Archiving destroys nothing: allowed under a hold, and the archived conversation is still refused deletion.
      await t.http().delete(`${API}/conversations/${user.conversationIds[1]}`).set(t.auth(user.userId)).expect(204);
      await expectRefused(deletes(user, 1).conversation(), hold.id);

      await release(hold.id);
      const allowed = deletes(user);
      await allowed.attachment().expect(204);
      await t.http().get(`${API}/attachments/${user.attachmentIds[0]}/content`).set(t.auth(user.userId)).expect(404);
      await allowed.message().expect(204);
      await allowed.conversation().expect(204);
      await deletes(user, 1).conversation().expect(204);
      await t.http().get(`${API}/conversations/${user.conversationIds[0]}`).set(t.auth(user.userId)).expect(404);
    });

    it('a hold on a conversation refuses deleting it or anything in it; the owner’s other conversations stay deletable', async () => {
      const user = await seedUser(t, 'conversation-keeper', { conversations: 2 });
      const hold = await place('conversation', user.conversationIds[0]!);
      const held = deletes(user);
      await expectRefused(held.message(), hold.id);
      await expectRefused(held.attachment(), hold.id);
      await expectRefused(held.conversation(), hold.id);
      await expectIntact(user);

      // Someone else asking about the held conversation learns nothing of the hold: 404, as for any conversation not theirs.
      const stranger = t.auth('curious-picker');
      await t.http().delete(`${API}/conversations/${user.conversationIds[0]}`).query({ permanent: 'true' }).set(stranger).expect(404);
      await t.http().delete(`${API}/conversations/${user.conversationIds[0]}/messages/${user.userMessageIds[0]}`).set(stranger).expect(404);
      await t.http().delete(`${API}/attachments/${user.attachmentIds[0]}`).set(stranger).expect(404);

      const other = deletes(user, 1);
      await other.message().expect(204);
      await other.conversation().expect(204);
      await t.http().get(`${API}/conversations/${user.conversationIds[1]}`).set(t.auth(user.userId)).expect(404);
      await expectIntact(user);

      await release(hold.id);
      await held.attachment().expect(204);
      await held.message().expect(204);
      await held.conversation().expect(204);
    });

    it('documents 409 LEGAL_HOLD on the three deletes', async () => {
      const spec = (await t.http().get('/api/docs-json').expect(200)).body as {
        paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
      };
      for (const path of [
        '/api/v1/chat/conversations/{id}',
        '/api/v1/chat/conversations/{id}/messages/{messageId}',
        '/api/v1/chat/attachments/{id}',
      ]) {
        expect(spec.paths[path]?.delete?.responses['409']?.description).toContain('LEGAL_HOLD');
      }
      expect(spec.paths['/api/v1/chat/conversations/{id}/messages/{messageId}']!.delete!.responses['409']!.description).toContain(
        'REPLY_IN_PROGRESS',
      );
    });
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

    it('pseudonymising names the person by the audit hash, never the pseudonym; released holds on their conversations lose the conversation id', async () => {
      const conversationId = await conversationOf('anonymised-owner');
      const onUser = await place('user', 'anonymised-owner');
      const onConversation = await place('conversation', conversationId);
      for (const hold of [onUser, onConversation]) {
        await t
          .http()
          .post(`${HOLDS}/${hold.id as string}/release`)
          .set(admin())
          .send({ reason: 'released' })
          .expect(200);
      }
      const theirs = (
        await t
          .http()
          .post(HOLDS)
          .set(t.auth('anonymised-owner', ADMIN))
          .send({ target: 'user', targetId: 'still-held', reason: 'Placed before leaving' })
          .expect(201)
      ).body;
      const pseudonym = 'anon_0123456789abcdef0123456789abcdef';

      expect(await provider().pseudonymise({ userId: 'anonymised-owner', pseudonym, maskText: (text) => text })).toEqual({
        chat_legal_holds: 3,
      });
      const auditLog = t.app.get(AuditLog);
      const hash = await auditLog.userIdHash('anonymised-owner');
      const byId = async (hold: Record<string, unknown>) => stored().findOne({ _id: new mongoose.Types.ObjectId(hold.id as string) });
      expect(await byId(onUser)).toMatchObject({ target: 'user', targetId: hash });
      expect(await byId(onConversation)).toMatchObject({
        target: 'conversation',
        targetId: await auditLog.userIdHash(conversationId),
        conversationOwnerId: hash,
      });
      expect(await byId(theirs)).toMatchObject({ targetId: 'still-held', placedBy: { userId: hash, roles: ['admin'] }, releasedAt: null });
      const everything = JSON.stringify(await stored().find({}).toArray());
      for (const gone of [pseudonym, 'anonymised-owner', conversationId]) expect(everything).not.toContain(gone);
      // Nor does the audit log name the conversation: the hold (target.id) is what its entries point at.
      const entries = await audit().find({ 'target.id': onConversation.id }).toArray();
      expect(entries).toHaveLength(2);
      expect(JSON.stringify(entries)).not.toContain(conversationId);
      expect(await heldError(holds.assertUserNotHeld('still-held'))).toMatchObject({ code: 'LEGAL_HOLD' });
      expect(await provider().pseudonymise({ userId: 'anonymised-owner', pseudonym, maskText: (text) => text })).toEqual({
        chat_legal_holds: 0,
      });
    });

    it('forgetConversationOwner renames the released holds on those conversations, and nothing else', async () => {
      const [anonymised, kept] = [await conversationOf('retained-owner'), await conversationOf('retained-owner')];
      const released = await place('conversation', anonymised, 'Earlier matter');
      await t
        .http()
        .post(`${HOLDS}/${released.id as string}/release`)
        .set(admin())
        .send({ reason: 'over' })
        .expect(200);
      const active = await place('conversation', anonymised, 'Current matter');
      const keptHold = await place('conversation', kept, 'Other matter');
      await t
        .http()
        .post(`${HOLDS}/${keptHold.id as string}/release`)
        .set(admin())
        .send({ reason: 'over' })
        .expect(200);

      expect(await holds.forgetConversationOwner([new mongoose.Types.ObjectId(anonymised)], 'retained-owner')).toBe(1);
      const auditLog = t.app.get(AuditLog);
      const byId = async (hold: Record<string, unknown>) => stored().findOne({ _id: new mongoose.Types.ObjectId(hold.id as string) });
      expect(await byId(released)).toMatchObject({
        targetId: await auditLog.userIdHash(anonymised),
        conversationOwnerId: await auditLog.userIdHash('retained-owner'),
      });
      expect(await byId(active)).toMatchObject({ targetId: anonymised, conversationOwnerId: 'retained-owner', releasedAt: null });
      expect(await byId(keptHold)).toMatchObject({ targetId: kept, conversationOwnerId: 'retained-owner' });
      expect(await heldError(holds.assertConversationNotHeld(anonymised))).toMatchObject({ details: { holdId: active.id } });
      expect(await holds.forgetConversationOwner([new mongoose.Types.ObjectId(anonymised)], 'retained-owner')).toBe(0);
      expect(await holds.forgetConversationOwner([], 'retained-owner')).toBe(0);
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
