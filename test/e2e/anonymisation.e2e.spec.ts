import mongoose from 'mongoose';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownerDirectory } from '../../src/attachments/storage/attachment-storage.js';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import { addCounts, type DataCounts } from '../../src/common/user-data/user-data.js';
import { PSEUDONYM_PATTERN } from '../../src/compliance/erasure/pseudonymiser.js';
import { filesUnder, findStored } from '../support/personal-data-scan.js';
import { TestApp, startTestApp } from '../support/test-app.js';
import { documentsContaining, seedUser } from '../support/user-data-seed.js';

const API = '/api/v1/chat';
const ADMIN = ['admin'];
const CONFIRM = 'anonymise-all-my-data';
const PHONE = '+49 151 23456789';
const IBAN = 'DE89 3704 0044 0532 0130 00';
const CARD = '4111 1111 1111 1111';
const personalText = (name: string, email: string) =>
  `Hi, ${name} here: mail ${email}, call ${PHONE}, refund to ${IBAN} or card ${CARD}. Short pick at aisle 4.`;
/** Where a pseudonym may stand: the anonymised data itself, never the records about people (holds, receipts, settings, audit). */
const ANONYMISED_DATA = ['chat_conversations', 'chat_messages', 'chat_message_feedback', 'chat_attachments'];
const MASKED_TEXT = 'Hi, [name] here: mail [email], call [phone], refund to [iban] or card [card]. Short pick at aisle 4.';

/** What anonymisation must keep: how many messages and conversations, and the token totals. */
async function aggregates(t: TestApp, userId: string) {
  const messages = await t.db.collection('chat_messages').find({ userId }).toArray();
  const conversations = await t.db.collection('chat_conversations').find({ userId }).toArray();
  const sum = (values: unknown[]) => values.reduce<number>((total, value) => total + (typeof value === 'number' ? value : 0), 0);
  return {
    messages: messages.length,
    conversations: conversations.length,
    messageCount: sum(conversations.map((conversation) => conversation.messageCount)),
    tokens: sum(messages.map((message) => message.tokens)),
    tokensUsed: sum(messages.map((message) => (message.tokensUsed as { total?: number } | undefined)?.total)),
    feedback: await t.db.collection('chat_message_feedback').countDocuments({ userId }),
  };
}

async function inventory(t: TestApp, userId: string): Promise<DataCounts> {
  const counts: DataCounts = {};
  for (const provider of t.app.get(UserDataRegistry).userDataProviders()) addCounts(counts, await provider.inventory(userId));
  return counts;
}

/** Seeds `userId` everywhere and adds a message holding every kind of personal data; answers the texts the user typed. */
async function seedSubject(t: TestApp, userId: string, name: string, email: string): Promise<string[]> {
  await seedUser(t, userId, { secret: email });
  const auth = { Authorization: `Bearer ${t.token(userId, ['warehouse_operator'], { name, email })}` };
  const conversation = await t.http().post(`${API}/conversations`).set(auth).send({ title: 'Refund' }).expect(201);
  await t
    .http()
    .post(`${API}/conversations/${conversation.body.id}/messages`)
    .set(auth)
    .send({ content: personalText(name, email), reply: false })
    .expect(201);
  return (await t.db.collection('chat_messages').find({ userId, type: 'user' }).toArray()).map((message) => String(message.content));
}

/** The owners of messages that are pseudonyms. */
async function pseudonyms(t: TestApp): Promise<string[]> {
  return (await t.db.collection('chat_messages').distinct('userId')).map(String).filter((owner) => PSEUDONYM_PATTERN.test(owner));
}

/** The one pseudonym that appeared since `known`. */
async function newPseudonym(t: TestApp, known: readonly string[]): Promise<string> {
  const appeared = (await pseudonyms(t)).filter((owner) => !known.includes(owner));
  expect(appeared).toHaveLength(1);
  return appeared[0]!;
}

describe('Anonymisation (CHAT_ANONYMIZATION_ENABLED=true)', () => {
  const other = 'igor-a1';
  let t: TestApp;
  let dataDir: string;
  let otherBefore: DataCounts;
  const admin = () => t.auth('dpo', ADMIN);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'wms-anonymisation-'));
    t = await startTestApp({
      CHAT_ANONYMIZATION_ENABLED: 'true',
      DATA_DIR: dataDir,
      ATTACHMENTS_DIR: join(dataDir, 'attachments'),
      CHAT_RATE_LIMIT_PER_MINUTE: '10000',
    });
    await seedUser(t, other, { secret: 'igor.a1@example.com' });
    otherBefore = await inventory(t, other);
  });
  afterAll(async () => {
    await t.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  afterEach(async () => {
    expect(await inventory(t, other)).toEqual(otherBefore);
  });

  it('refuses non-admins with 403', async () => {
    await t
      .http()
      .post(`${API}/admin/users/${other}/anonymise`)
      .set(t.auth('pia', ['supervisor']))
      .send({})
      .expect(403);
  });

  it('replaces the user by a pseudonym everywhere, masks their texts, removes their files, and keeps counts and token totals', async () => {
    const subject = 'annegret-s5';
    const name = 'Annegret Schwanitz';
    const email = 'annegret.schwanitz@example.com';
    const typed = await seedSubject(t, subject, name, email);
    const known = await pseudonyms(t);
    const needles = [subject, name, 'annegret', 'schwanitz', email, PHONE, IBAN, CARD, personalText(name, email)];
    const before = await aggregates(t, subject);
    expect(before).toMatchObject({ messages: 3, conversations: 2, messageCount: 3, feedback: 1 });
    expect(before.tokens).toBeGreaterThan(0);
    expect(before.tokensUsed).toBeGreaterThan(0);
    expect(await findStored(t.db, [dataDir], needles)).not.toEqual([]);
    expect((await filesUnder(dataDir)).some((path) => path.includes(ownerDirectory(subject)))).toBe(true);

    const receipt = (
      await t
        .http()
        .post(`${API}/admin/users/${subject}/anonymise`)
        .set(admin())
        .send({ names: [name], reason: `Leaver, asked by ${email}` })
        .expect(200)
    ).body;
    expect(receipt).toMatchObject({
      mode: 'anonymise',
      state: 'done',
      requestedBy: { userId: 'dpo', roles: ADMIN, self: false },
      reason: 'Leaver, asked by [email]',
      counts: expect.objectContaining({ chat_messages: 3, chat_conversations: 2, chat_attachments: 2, 'files:attachments': 3 }),
    });

    expect(await findStored(t.db, [dataDir], needles)).toEqual([]);
    const pseudonym = await newPseudonym(t, known);
    expect(await aggregates(t, pseudonym)).toEqual(before);
    expect(await aggregates(t, subject)).toMatchObject({ messages: 0, conversations: 0, feedback: 0 });
    const texts = (await t.db.collection('chat_messages').find({ userId: pseudonym, type: 'user' }).toArray()).map(
      (message) => message.content,
    );
    expect(texts).toContain(MASKED_TEXT);
    expect(texts).toHaveLength(typed.length);
    expect(texts.every((text) => !String(text).includes(email))).toBe(true);
    // Files are removed; the records stay (counts), under the pseudonym.
    expect(
      (await filesUnder(dataDir)).filter((path) => path.includes(ownerDirectory(subject)) || path.includes(ownerDirectory(pseudonym))),
    ).toEqual([]);
    expect(await t.db.collection('chat_attachments').countDocuments({ userId: pseudonym })).toBe(2);
    // The pseudonym is not kept with the receipt: nothing links it to the user any more.
    const record = await t.db.collection('chat_erasures').findOne({ mode: 'anonymise' });
    expect(record).not.toHaveProperty('pseudonym');
    expect(record).not.toHaveProperty('maskNames');
    expect(record).not.toHaveProperty('subjectUserId');
    expect(JSON.stringify(record)).not.toContain(pseudonym);
    const entry = await t.db.collection('chat_audit_log').findOne({ action: 'user.anonymised', 'target.id': receipt.erasureId });
    expect(entry).not.toBeNull();
  });

  it('a user anonymises themselves: the names come from their token', async () => {
    const subject = 'bertold-k8';
    const name = 'Bertold Kranich';
    const email = 'bertold.kranich@example.com';
    await seedSubject(t, subject, name, email);
    const known = await pseudonyms(t);
    const before = await aggregates(t, subject);
    const auth = { Authorization: `Bearer ${t.token(subject, ['warehouse_operator'], { name, email })}` };
    for (const query of ['', '?confirm=yes', `?confirm=${CONFIRM.toUpperCase()}`]) {
      const refused = await t.http().post(`${API}/user/anonymise${query}`).set(auth).expect(400);
      expect(refused.body).toMatchObject({ code: 'CONFIRMATION_REQUIRED', details: { expected: CONFIRM } });
    }
    expect(await aggregates(t, subject)).toEqual(before);

    const receipt = (await t.http().post(`${API}/user/anonymise?confirm=${CONFIRM}`).set(auth).expect(200)).body;
    expect(receipt).toMatchObject({ mode: 'anonymise', state: 'done', requestedBy: { userId: null, self: true } });
    expect(await findStored(t.db, [dataDir], [subject, name, 'bertold', 'kranich', email])).toEqual([]);
    const pseudonym = await newPseudonym(t, known);
    expect(await aggregates(t, pseudonym)).toEqual(before);
    expect(await t.db.collection('chat_messages').countDocuments({ userId: pseudonym, content: MASKED_TEXT })).toBe(1);
  });

  it('leaves no way from the audit log to the pseudonym: the records its entries point at name the user by hash or not at all', async () => {
    const subject = 'cordula-h4';
    const name = 'Cordula Hainbach';
    await seedSubject(t, subject, name, 'cordula.hainbach@example.com');
    const conversationIds = (await t.http().get(`${API}/conversations`).set(t.auth(subject)).expect(200)).body.items.map(
      (conversation: { id: string }) => conversation.id,
    ) as string[];
    const release = (holdId: string, by: Record<string, string>) =>
      t.http().post(`${API}/admin/legal-holds/${holdId}/release`).set(by).send({ reason: 'Matter closed' }).expect(200);
    // Holds about them, released since.
    for (const [target, targetId] of [
      ['user', subject],
      ['conversation', conversationIds[0]],
    ]) {
      const hold = await t.http().post(`${API}/admin/legal-holds`).set(admin()).send({ target, targetId, reason: 'Inquiry' }).expect(201);
      await release(hold.body.id, admin());
    }
    // What they did as an admin: a hold, a retention override, an erasure of someone else.
    const asAdmin = t.auth(subject, ADMIN);
    const theirHold = await t
      .http()
      .post(`${API}/admin/legal-holds`)
      .set(asAdmin)
      .send({ target: 'user', targetId: 'held-by-cordula', reason: 'Shrinkage' })
      .expect(201);
    await release(theirHold.body.id, asAdmin);
    await t.http().put(`${API}/admin/retention/policies/role/supervisor`).set(asAdmin).send({ days: 3650 }).expect(200);
    await t.http().delete(`${API}/admin/users/erased-by-cordula/data`).set(asAdmin).expect(200);

    const known = await pseudonyms(t);
    await t
      .http()
      .post(`${API}/admin/users/${subject}/anonymise`)
      .set(admin())
      .send({ names: [name] })
      .expect(200);
    const pseudonym = await newPseudonym(t, known);
    expect(
      await t.db
        .collection('chat_conversations')
        .countDocuments({ _id: { $in: conversationIds.map((id) => new mongoose.Types.ObjectId(id)) }, userId: pseudonym }),
    ).toBe(2);

    // Everything an admin reaches from the entries about the user or by them, following their targets.
    const reached: unknown[] = [];
    const followed = new Set<string>();
    for (const filter of [{ subjectId: subject }, { actorId: subject }]) {
      let cursor: string | undefined;
      do {
        const page = (
          await t
            .http()
            .get(`${API}/admin/audit`)
            .query({ ...filter, limit: '100', ...(cursor ? { cursor } : {}) })
            .set(admin())
            .expect(200)
        ).body as { items: { target?: { type: string; id: string } }[]; nextCursor: string | null };
        for (const entry of page.items) {
          reached.push(entry);
          const target = entry.target;
          if (target?.type === 'legal-hold')
            reached.push((await t.http().get(`${API}/admin/legal-holds/${target.id}`).set(admin()).expect(200)).body);
          if (target?.type === 'erasure')
            reached.push((await t.http().get(`${API}/admin/erasures/${target.id}`).set(admin()).expect(200)).body);
          if (target?.type === 'retention-policy')
            reached.push((await t.http().get(`${API}/admin/retention/policies`).set(admin()).expect(200)).body);
          if (target) followed.add(target.type);
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
    expect([...followed].sort()).toEqual(expect.arrayContaining(['erasure', 'legal-hold', 'retention-policy']));
    const seen = JSON.stringify(reached);
    expect(seen).not.toContain(pseudonym);
    for (const id of conversationIds) expect(seen).not.toContain(id);

    // The pseudonym is stored only with the anonymised data itself.
    const holding = new Set((await documentsContaining(t.db, pseudonym)).map((where) => where.split(' ')[0]!));
    expect([...holding].filter((collection) => !ANONYMISED_DATA.includes(collection))).toEqual([]);
    expect(holding.has('chat_messages')).toBe(true);
  });

  it('takes a request without a body; an unknown user gets a receipt with zero counts', async () => {
    const receipt = (await t.http().post(`${API}/admin/users/nobody-ever-7/anonymise`).set(admin()).expect(200)).body;
    expect(receipt).toMatchObject({ mode: 'anonymise', state: 'done', reason: null });
    expect(Object.values(receipt.counts as Record<string, number>).every((count) => count === 0)).toBe(true);
  });

  it.each([
    ['names not a list', { names: 'Anna' }],
    ['a blank name', { names: ['  '] }],
    ['an empty name', { names: [''] }],
    ['a name that is not text', { names: [42] }],
    ['too many names', { names: Array.from({ length: 21 }, (_, index) => `Name ${index}`) }],
    ['a name too long', { names: ['x'.repeat(201)] }],
    ['an unknown property', { names: ['Anna'], everything: true }],
    ['a blank reason', { reason: ' ' }],
  ])('refuses %s with 400', async (_case, body) => {
    await t.http().post(`${API}/admin/users/nobody-ever-7/anonymise`).set(admin()).send(body).expect(400);
  });
});

describe('Anonymisation off (the default)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ CHAT_RATE_LIMIT_PER_MINUTE: '10000' });
  });
  afterAll(() => t.close());

  it('answers 404 ANONYMIZATION_DISABLED to admins and users alike, and changes nothing', async () => {
    await seedUser(t, 'carla-m2');
    const before = await inventory(t, 'carla-m2');
    const byAdmin = await t.http().post(`${API}/admin/users/carla-m2/anonymise`).set(t.auth('dpo', ADMIN)).send({}).expect(404);
    expect(byAdmin.body).toMatchObject({ code: 'ANONYMIZATION_DISABLED' });
    const bySelf = await t.http().post(`${API}/user/anonymise?confirm=${CONFIRM}`).set(t.auth('carla-m2')).expect(404);
    expect(bySelf.body).toMatchObject({ code: 'ANONYMIZATION_DISABLED' });
    // Off is off whatever else is wrong with the request; admin-only is still checked first.
    await t.http().post(`${API}/user/anonymise`).set(t.auth('carla-m2')).expect(404);
    await t.http().post(`${API}/admin/users/carla-m2/anonymise`).set(t.auth('carla-m2')).send({}).expect(403);
    expect(await inventory(t, 'carla-m2')).toEqual(before);
    expect(await t.db.collection('chat_erasures').countDocuments()).toBe(0);
  });

  it('documents the routes with their 404 ANONYMIZATION_DISABLED, and the confirmation phrases as enums', async () => {
    const spec = (await t.http().get('/api/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, { responses: Record<string, { description: string }>; parameters?: unknown[] }>>;
    };
    for (const [path, method] of [
      ['/api/v1/chat/admin/users/{userId}/anonymise', 'post'],
      ['/api/v1/chat/user/anonymise', 'post'],
    ] as const) {
      expect(spec.paths[path]?.[method]?.responses['404']?.description).toContain('ANONYMIZATION_DISABLED');
    }
    expect(spec.paths['/api/v1/chat/user/anonymise']!.post!.parameters).toEqual([
      expect.objectContaining({ name: 'confirm', in: 'query', required: true, schema: expect.objectContaining({ enum: [CONFIRM] }) }),
    ]);
    expect(spec.paths['/api/v1/chat/user/data']!.delete!.parameters).toEqual([
      expect.objectContaining({
        name: 'confirm',
        in: 'query',
        required: true,
        schema: expect.objectContaining({ enum: ['erase-all-my-data'] }),
      }),
    ]);
    expect(spec.paths['/api/v1/chat/user/data']!.delete!.responses['400']!.description).toContain('CONFIRMATION_REQUIRED');
    expect(spec.paths['/api/v1/chat/user/data']!.delete!.responses['409']!.description).toContain('LEGAL_HOLD');
  });
});
