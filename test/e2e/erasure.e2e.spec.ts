import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Socket } from 'socket.io-client';
import { ownerDirectory } from '../../src/attachments/storage/attachment-storage.js';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import { addCounts, type DataCounts } from '../../src/common/user-data/user-data.js';
import { AuditLog } from '../../src/compliance/audit/audit-log.service.js';
import { JobScheduler } from '../../src/jobs/job-scheduler.service.js';
import { filesUnder, findStored } from '../support/personal-data-scan.js';
import { connectSocket } from '../support/socket.js';
import { TestApp, startTestApp } from '../support/test-app.js';
import { seedUser } from '../support/user-data-seed.js';

const API = '/api/v1/chat';
const ADMIN = ['admin'];
const CONFIRM = 'erase-all-my-data';
const NAME = 'Ottilie Quast';
const EMAIL = 'ottilie.quast@example.com';
const PHONE = '+49 151 23456789';
const IBAN = 'DE89 3704 0044 0532 0130 00';
const CARD = '4111 1111 1111 1111';
const PERSONAL_TEXT = `Hi, ${NAME} here: mail ${EMAIL}, call ${PHONE}, refund to ${IBAN} or card ${CARD}. Short pick at aisle 4.`;

interface Receipt {
  erasureId: string;
  mode: string;
  state: string;
  requestedBy: { userId: string | null; roles: string[]; self: boolean };
  reason: string | null;
  counts: Record<string, number>;
  providers: { name: string; done: boolean; counts: Record<string, number> }[];
  attempts: number;
  error: string | null;
  startedAt: string;
  finishedAt: string | null;
}

/** Everything a test app needs to hold a user's data in every part, files in `driver`. */
async function startApp(driver: 'local' | 'gridfs'): Promise<{ t: TestApp; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), `wms-erasure-${driver}-`));
  const t = await startTestApp({
    DATA_DIR: dataDir,
    ATTACHMENTS_DIR: join(dataDir, 'attachments'),
    ATTACHMENT_STORAGE: driver,
    ENABLE_WEBSOCKETS: 'true',
    CHAT_RATE_LIMIT_PER_MINUTE: '10000',
  });
  return { t, dataDir };
}

/**
 * Gives `userId` data everywhere (seedUser: conversations, messages, files, feedback, preferences,
 * a fact), a conversation whose message holds every kind of personal data, and a ready data
 * export archive. Answers the texts the user typed.
 */
async function seedSubject(t: TestApp, userId: string, claims: Record<string, unknown>): Promise<string[]> {
  const seeded = await seedUser(t, userId, { secret: String(claims.email) });
  const auth = { Authorization: `Bearer ${t.token(userId, ['warehouse_operator'], claims)}` };
  const conversation = await t
    .http()
    .post(`${API}/conversations`)
    .set(auth)
    .send({ title: `Refund for ${NAME}` })
    .expect(201);
  await t
    .http()
    .post(`${API}/conversations/${conversation.body.id}/messages`)
    .set(auth)
    .send({ content: PERSONAL_TEXT, reply: false })
    .expect(201);
  const job = await t.http().post(`${API}/user/data-export`).set(auth).expect(202);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const status = (await t.http().get(`${API}/user/data-exports/${job.body.id}`).set(auth).expect(200)).body.status;
    if (status === 'ready') break;
    if (status === 'failed' || Date.now() > deadline) throw new Error(`the data export of ${userId} is ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const typed = await t.db.collection('chat_messages').find({ userId, type: 'user' }).toArray();
  expect(typed).toHaveLength(seeded.userMessageIds.length + 1);
  return typed.map((message) => String(message.content));
}

async function inventory(t: TestApp, userId: string): Promise<DataCounts> {
  const counts: DataCounts = {};
  for (const provider of t.app.get(UserDataRegistry).userDataProviders()) addCounts(counts, await provider.inventory(userId));
  return counts;
}

function disconnected(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    if (socket.disconnected) resolve('already');
    else socket.once('disconnect', (reason) => resolve(reason));
  });
}

const allZero = (counts: Record<string, number>) => Object.values(counts).every((count) => count === 0);

describe('Erasure (files on the local driver)', () => {
  const subject = 'ottilie-q7';
  const other = 'igor-b2';
  const claims = { name: NAME, email: EMAIL };
  let t: TestApp;
  let dataDir: string;
  let typed: string[];
  let otherBefore: DataCounts;
  const subjectAuth = () => ({ Authorization: `Bearer ${t.token(subject, ['warehouse_operator'], claims)}` });
  const admin = () => t.auth('dpo', ADMIN);
  const needles = () => [subject, NAME, 'ottili', 'quast', EMAIL, PHONE, IBAN, CARD, ...typed];

  beforeAll(async () => {
    ({ t, dataDir } = await startApp('local'));
    typed = await seedSubject(t, subject, claims);
    await seedUser(t, other, { secret: 'igor.private@example.com' });
    otherBefore = await inventory(t, other);
  });
  afterAll(async () => {
    await t.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates its collection with the one-erasure-per-user index (migration 0013-erasures)', async () => {
    const indexes = await t.db.collection('chat_erasures').indexes();
    expect(indexes).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'activeKey_unique', unique: true })]));
  });

  it('refuses the user’s own erasure without the exact confirmation, and erases nothing', async () => {
    const before = await inventory(t, subject);
    for (const query of ['', '?confirm=yes', '?confirm=ERASE-ALL-MY-DATA', `?confirm=${CONFIRM}%20`]) {
      const response = await t.http().delete(`${API}/user/data${query}`).set(subjectAuth()).expect(400);
      expect(response.body).toMatchObject({ code: 'CONFIRMATION_REQUIRED', details: { field: 'confirm', expected: CONFIRM } });
    }
    await t.http().delete(`${API}/user/data?confirm=${CONFIRM}&confirm=${CONFIRM}`).set(subjectAuth()).expect(400);
    await t.http().delete(`${API}/user/data?confirm=${CONFIRM}&everything=true`).set(subjectAuth()).expect(400);
    expect(await inventory(t, subject)).toEqual(before);
    expect(await t.db.collection('chat_erasures').countDocuments()).toBe(0);
  });

  it('refuses the admin routes to anyone but admins with 403', async () => {
    const operator = t.auth('pia', ['warehouse_operator', 'supervisor']);
    await t.http().delete(`${API}/admin/users/${other}/data`).set(operator).expect(403);
    await t.http().get(`${API}/admin/erasures/665f1c2e9b1d8a0012345678`).set(operator).expect(403);
    await t.http().delete(`${API}/admin/users/${other}/data`).expect(401);
    expect(await inventory(t, other)).toEqual(otherBefore);
  });

  it('refuses to erase a user under a legal hold, by an admin or themselves, and changes nothing', async () => {
    const held = 'held-h1';
    await seedUser(t, held);
    await t
      .http()
      .post(`${API}/admin/legal-holds`)
      .set(admin())
      .send({ target: 'user', targetId: held, reason: 'Litigation 2025-017' })
      .expect(201);
    const before = await inventory(t, held);
    const byAdmin = await t.http().delete(`${API}/admin/users/${held}/data`).set(admin()).expect(409);
    expect(byAdmin.body).toMatchObject({ code: 'LEGAL_HOLD', details: { holdId: expect.any(String) } });
    const bySelf = await t.http().delete(`${API}/user/data?confirm=${CONFIRM}`).set(t.auth(held)).expect(409);
    expect(bySelf.body.code).toBe('LEGAL_HOLD');
    expect(await inventory(t, held)).toEqual(before);
    expect(await t.db.collection('chat_erasures').countDocuments()).toBe(0);
  });

  it('erases everything of the user who asks: every collection, the files, the export archive, the open socket', async () => {
    // The scan finds the user before: it cannot pass by looking in the wrong places.
    const before = await findStored(t.db, [dataDir], needles());
    for (const needle of [subject, EMAIL, IBAN, CARD, 'quast'])
      expect(before.some((line) => line.endsWith(`: ${needle.toLowerCase()}`))).toBe(true);
    expect((await filesUnder(dataDir)).some((path) => path.includes(ownerDirectory(subject)))).toBe(true);
    const socket = await connectSocket(await t.port(), '/chat', { token: t.token(subject, ['warehouse_operator'], claims) });
    const closed = disconnected(socket);

    const response = await t.http().delete(`${API}/user/data?confirm=${CONFIRM}`).set(subjectAuth()).expect(200);
    const receipt = response.body as Receipt;
    expect(receipt).toEqual({
      erasureId: expect.stringMatching(/^[0-9a-f]{24}$/),
      mode: 'erase',
      state: 'done',
      requestedBy: { userId: null, roles: ['warehouse_operator'], self: true },
      reason: null,
      counts: expect.objectContaining({
        chat_conversations: 2,
        chat_messages: 3,
        chat_attachments: 2,
        'files:attachments': 3,
        chat_message_feedback: 1,
        chat_user_preferences: 1,
        chat_data_exports: 1,
        'files:data-exports': 1,
        sockets: 1,
      }),
      providers: t.app
        .get(UserDataRegistry)
        .userDataProviders()
        .map((provider) => ({ name: provider.name, done: true, counts: expect.any(Object) })),
      attempts: 1,
      error: null,
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
    });
    expect(await closed).toBe('io server disconnect');

    expect(await findStored(t.db, [dataDir], needles())).toEqual([]);
    const files = await filesUnder(dataDir);
    expect(files.filter((path) => relative(dataDir, path).includes(ownerDirectory(subject)))).toEqual([]);
    expect(files.some((path) => path.includes(ownerDirectory(other)))).toBe(true);
    expect(await inventory(t, subject)).toEqual(expect.objectContaining({ chat_messages: 0, chat_conversations: 0 }));
    expect(await inventory(t, other)).toEqual(otherBefore);

    // The audit entry names the erasure and the user by the keyed hash only (the scan above found no plain id).
    const hash = await t.app.get(AuditLog).userIdHash(subject);
    const entry = await t.db.collection('chat_audit_log').findOne({ action: 'user.erased', 'target.id': receipt.erasureId });
    expect(entry).toMatchObject({ subject: { userIdHash: hash }, target: { type: 'erasure', id: receipt.erasureId } });
    const record = await t.db.collection('chat_erasures').findOne({});
    expect(record).toMatchObject({ subjectHash: hash, state: 'done', activeKey: `done:${receipt.erasureId}` });
    expect(record).not.toHaveProperty('subjectUserId');
    expect(record!.requestedBy).toEqual({ roles: ['warehouse_operator'], self: true });

    const read = await t.http().get(`${API}/admin/erasures/${receipt.erasureId}`).set(admin()).expect(200);
    expect(read.body).toEqual(receipt);
  });

  it('erasing a user again answers a receipt with zero counts', async () => {
    const again = (await t.http().delete(`${API}/admin/users/${subject}/data`).set(admin()).expect(200)).body as Receipt;
    expect(again).toMatchObject({ mode: 'erase', state: 'done', requestedBy: { userId: 'dpo', roles: ADMIN, self: false } });
    expect(Object.keys(again.counts).length).toBeGreaterThan(0);
    expect(allZero(again.counts)).toBe(true);
    const self = (await t.http().delete(`${API}/user/data?confirm=${CONFIRM}`).set(subjectAuth()).expect(200)).body as Receipt;
    expect(allZero(self.counts)).toBe(true);
    expect(self.erasureId).not.toBe(again.erasureId);
  });

  it('an admin erasing a user never seen gets a receipt with zero counts; an unknown receipt is a 404', async () => {
    const reason = `GDPR request #2025-114 from ${EMAIL}, tel ${PHONE}`;
    const receipt = (await t.http().delete(`${API}/admin/users/nobody-ever-42/data`).query({ reason }).set(admin()).expect(200))
      .body as Receipt;
    expect(receipt).toMatchObject({ state: 'done', reason: 'GDPR request #2025-114 from [email], tel [phone]' });
    expect(allZero(receipt.counts)).toBe(true);
    expect((await t.http().get(`${API}/admin/erasures/${receipt.erasureId}`).set(admin()).expect(200)).body).toEqual(receipt);
    const missing = await t.http().get(`${API}/admin/erasures/665f1c2e9b1d8a0012345678`).set(admin()).expect(404);
    expect(missing.body.code).toBe('ERASURE_NOT_FOUND');
    await t.http().get(`${API}/admin/erasures/not-an-id`).set(admin()).expect(400);
    for (const bad of ['', ' ', 'x'.repeat(501)]) {
      await t.http().delete(`${API}/admin/users/nobody-ever-42/data`).query({ reason: bad }).set(admin()).expect(400);
    }
    await t
      .http()
      .delete(`${API}/admin/users/${'u'.repeat(129)}/data`)
      .set(admin())
      .expect(400);
    await t.http().delete(`${API}/admin/users/bad%20id/data`).set(admin()).expect(400);
  });

  it('two requests to erase one user at once share one erasure', async () => {
    const twin = 'twin-t3';
    await seedUser(t, twin);
    const [first, second] = await Promise.all([
      t.http().delete(`${API}/admin/users/${twin}/data`).set(admin()).expect(200),
      t.http().delete(`${API}/admin/users/${twin}/data`).set(t.auth('dpo-2', ADMIN)).expect(200),
    ]);
    expect(second.body).toEqual(first.body);
    expect(first.body.counts.chat_messages).toBe(2);
    const hash = await t.app.get(AuditLog).userIdHash(twin);
    expect(await t.db.collection('chat_erasures').countDocuments({ subjectHash: hash })).toBe(1);
  });

  it('resumes an erasure that a stopped instance left mid-way, with the providers not yet done', async () => {
    const user = 'resume-r5';
    await seedUser(t, user, { secret: 'resume.r5@example.com' });
    const providers = t.app.get(UserDataRegistry).userDataProviders();
    // What the stopped instance got done: the first two providers, recorded with their counts.
    const done = providers.slice(0, 2);
    const counts = [];
    for (const provider of done) {
      for (const [store, count] of Object.entries(await provider.erase(user))) counts.push({ provider: provider.name, store, count });
    }
    const hash = await t.app.get(AuditLog).userIdHash(user);
    const startedAt = new Date(Date.now() - 10 * 60_000);
    const { insertedId } = await t.db.collection('chat_erasures').insertOne({
      subjectHash: hash,
      subjectUserId: user,
      mode: 'erase',
      requestedBy: { userId: 'dpo', roles: ADMIN, self: false },
      reason: null,
      state: 'running',
      activeKey: `active:${hash}`,
      providersDone: done.map((provider) => provider.name),
      counts,
      attempts: 1,
      audited: false,
      error: null,
      startedAt,
      finishedAt: null,
      claimedBy: 'a-stopped-instance',
      claimedUntil: new Date(Date.now() - 60_000),
    });
    expect(await findStored(t.db, [dataDir], [user, 'resume.r5@example.com'])).not.toEqual([]);

    const run = await t.app.get(JobScheduler).runNow('erasures');
    expect(run).toMatchObject({ status: 'succeeded', error: null });

    const receipt = (await t.http().get(`${API}/admin/erasures/${insertedId.toHexString()}`).set(admin()).expect(200)).body as Receipt;
    expect(receipt).toMatchObject({ state: 'done', attempts: 2, startedAt: startedAt.toISOString(), error: null });
    expect(receipt.providers.map((provider) => [provider.name, provider.done])).toEqual(providers.map((provider) => [provider.name, true]));
    expect(receipt.counts.chat_messages).toBe(2);
    expect(await findStored(t.db, [dataDir], [user, 'resume.r5@example.com'])).toEqual([]);
    expect(await t.db.collection('chat_audit_log').countDocuments({ action: 'user.erased', 'target.id': insertedId.toHexString() })).toBe(
      1,
    );
    expect(await inventory(t, other)).toEqual(otherBefore);
  });
});

describe('Erasure (files in GridFS)', () => {
  const subject = 'ottilie-g9';
  const other = 'igor-g4';
  let t: TestApp;
  let dataDir: string;

  beforeAll(async () => {
    ({ t, dataDir } = await startApp('gridfs'));
  });
  afterAll(async () => {
    await t.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('removes the user’s files and export archive from GridFS, and every other trace', async () => {
    const typed = await seedSubject(t, subject, { name: NAME, email: EMAIL });
    await seedUser(t, other, { secret: 'igor.g4@example.com' });
    const otherBefore = await inventory(t, other);
    const needles = [subject, NAME, 'ottili', 'quast', EMAIL, PHONE, IBAN, CARD, ...typed];
    // Binary chunks are read too: the uploaded count sheet names the user.
    expect(await findStored(t.db, [], needles)).toEqual(expect.arrayContaining([expect.stringMatching(/^chat_attachment_files\.chunks /)]));

    const receipt = (
      await t.http().delete(`${API}/admin/users/${subject}/data`).query({ reason: 'Ticket 7' }).set(t.auth('dpo', ADMIN)).expect(200)
    ).body as Receipt;
    expect(receipt).toMatchObject({
      state: 'done',
      reason: 'Ticket 7',
      requestedBy: { userId: 'dpo', roles: ADMIN, self: false },
      counts: expect.objectContaining({ chat_messages: 3, 'files:attachments': 3, 'files:data-exports': 1 }),
    });
    expect(await findStored(t.db, [dataDir], needles)).toEqual([]);
    expect(await t.db.collection('chat_attachment_files.files').countDocuments({ 'metadata.userId': subject })).toBe(0);
    expect(await t.db.collection('chat_attachment_files.files').countDocuments({ 'metadata.userId': other })).toBe(3);
    expect(await inventory(t, other)).toEqual(otherBefore);
  });
});
