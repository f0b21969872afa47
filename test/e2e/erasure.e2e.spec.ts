import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { jest } from '@jest/globals';
import mongoose from 'mongoose';
import type { Socket } from 'socket.io-client';
import { ownerDirectory } from '../../src/attachments/storage/attachment-storage.js';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import { addCounts, type DataCounts, type ExportPart, type UserDataProvider } from '../../src/common/user-data/user-data.js';
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

/** What a provider's export gives of a user: the records of its first part. */
async function exported(provider: UserDataProvider, userId: string): Promise<Record<string, unknown>[]> {
  const records: Record<string, unknown>[] = [];
  for await (const part of provider.export(userId)) {
    for await (const record of (part as Extract<ExportPart, { kind: 'records' }>).records) records.push(record);
  }
  return records;
}

/** The providers' inventories of a user, all but those named (whose records name the user anew when a hold is placed or an erasure stops). */
async function inventoryExcept(t: TestApp, userId: string, except: readonly string[]): Promise<DataCounts> {
  const counts: DataCounts = {};
  for (const provider of t.app.get(UserDataRegistry).userDataProviders()) {
    if (!except.includes(provider.name)) addCounts(counts, await provider.inventory(userId));
  }
  return counts;
}

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

  it('searching the audit log for the erased user, as subject or actor, writes no plain id back', async () => {
    await t.http().get(`${API}/admin/audit`).query({ subjectId: subject }).set(admin()).expect(200);
    await t.http().get(`${API}/admin/audit`).query({ actorId: subject }).set(admin()).expect(200);
    const found = (await t.http().get(`${API}/admin/audit`).query({ subjectId: subject }).set(admin()).expect(200)).body.items;
    // The searches are there, naming the user by the keyed hash alone.
    const hash = await t.app.get(AuditLog).userIdHash(subject);
    expect(found.filter((entry: { action: string }) => entry.action === 'admin.read')).toEqual(
      expect.arrayContaining([expect.objectContaining({ subject: { userIdHash: hash } })]),
    );
    expect(await findStored(t.db, [dataDir], [subject])).toEqual([]);
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

  it('stops when a legal hold is placed mid-way: 409 with the receipt of the parts that ran, nothing further changed', async () => {
    const user = 'held-midway-m1';
    await seedUser(t, user, { secret: 'held.midway@example.com' });
    const providers = t.app.get(UserDataRegistry).userDataProviders();
    const first = providers[0]!;
    // These name the user anew once the hold is placed and the erasure stopped; every other part must stay as it was.
    const renaming = [first.name, 'legal-holds', 'audit-log', 'erasures'];
    const untouched = await inventoryExcept(t, user, renaming);
    expect(untouched.chat_messages).toBe(2);
    const eraseFirst = first.erase.bind(first);
    let holdId = '';
    // An admin places a hold while the first part is being erased.
    const spy = jest.spyOn(first, 'erase').mockImplementationOnce(async (userId: string) => {
      const counts = await eraseFirst(userId);
      holdId = (
        await t
          .http()
          .post(`${API}/admin/legal-holds`)
          .set(admin())
          .send({ target: 'user', targetId: user, reason: 'Dispute 2025-031' })
          .expect(201)
      ).body.id;
      return counts;
    });
    try {
      const response = await t.http().delete(`${API}/admin/users/${user}/data`).query({ reason: 'Ticket 31' }).set(admin()).expect(409);
      expect(response.body).toMatchObject({
        code: 'LEGAL_HOLD',
        message: expect.stringContaining('nothing further was changed'),
        details: { holdId, erasure: { state: 'failed', error: expect.stringContaining('legal hold'), finishedAt: expect.any(String) } },
      });
      const receipt = response.body.details.erasure as Receipt;
      expect(receipt.providers.map((provider) => [provider.name, provider.done])).toEqual(
        providers.map((provider, index) => [provider.name, index === 0]),
      );
      expect(spy).toHaveBeenCalledTimes(1);
      expect(await inventoryExcept(t, user, renaming)).toEqual(untouched);
      expect((await t.http().get(`${API}/admin/erasures/${receipt.erasureId}`).set(admin()).expect(200)).body).toEqual(receipt);

      // Asking again while the hold is in force: refused before anything starts.
      const again = await t.http().delete(`${API}/admin/users/${user}/data`).set(admin()).expect(409);
      expect(again.body.details).not.toHaveProperty('erasure');

      // The stopped erasure in the exports: its subject sees the reason and counts; the admin who asked, only what and when.
      const erasures = providers.find((provider) => provider.name === 'erasures')!;
      expect(await exported(erasures, user)).toEqual([
        expect.objectContaining({ id: receipt.erasureId, yourPart: 'subject', reason: 'Ticket 31', counts: expect.any(Array) }),
      ]);
      const asked = (await exported(erasures, 'dpo')).find((record) => record.id === receipt.erasureId);
      expect(asked).toEqual({
        id: receipt.erasureId,
        mode: 'erase',
        state: 'failed',
        yourPart: 'requester',
        startedAt: receipt.startedAt,
        finishedAt: receipt.finishedAt,
      });
      expect(JSON.stringify(await exported(erasures, 'dpo'))).not.toMatch(/Ticket|GDPR request|chat_messages/);
    } finally {
      spy.mockRestore();
    }

    // Released, the erasure runs anew and finishes.
    await t.http().post(`${API}/admin/legal-holds/${holdId}/release`).set(admin()).send({ reason: 'Dispute settled' }).expect(200);
    const done = (await t.http().delete(`${API}/admin/users/${user}/data`).set(admin()).expect(200)).body as Receipt;
    expect(done).toMatchObject({ state: 'done', counts: expect.objectContaining({ chat_messages: 2 }) });
  });

  it('answers a failed attempt with 202 and the pending receipt; the erasures job finishes it', async () => {
    const user = 'hiccup-h2';
    await seedUser(t, user, { secret: 'hiccup.h2@example.com' });
    const providers = t.app.get(UserDataRegistry).userDataProviders();
    const spy = jest.spyOn(providers[1]!, 'erase').mockRejectedValueOnce(new Error('the store hiccuped'));
    let receipt: Receipt;
    try {
      receipt = (await t.http().delete(`${API}/admin/users/${user}/data`).set(admin()).expect(202)).body as Receipt;
    } finally {
      spy.mockRestore();
    }
    expect(receipt).toMatchObject({ state: 'pending', error: 'the store hiccuped', attempts: 1, finishedAt: null });
    expect(receipt.providers.map((provider) => provider.done)).toEqual(providers.map((_, index) => index === 0));
    // The same request again joins it, and answers the same.
    const joined = (await t.http().delete(`${API}/admin/users/${user}/data`).set(admin()).expect(202)).body as Receipt;
    expect(joined).toEqual(receipt);

    // The retry is due a minute later; the test moves it to now.
    const id = new mongoose.Types.ObjectId(receipt.erasureId);
    await t.db.collection('chat_erasures').updateOne({ _id: id }, { $set: { claimedUntil: new Date(Date.now() - 1000) } });
    expect(await t.app.get(JobScheduler).runNow('erasures')).toMatchObject({ status: 'succeeded', counts: { done: 1, postponed: 0 } });
    const finished = (await t.http().get(`${API}/admin/erasures/${receipt.erasureId}`).set(admin()).expect(200)).body as Receipt;
    expect(finished).toMatchObject({ state: 'done', attempts: 2, error: null, counts: expect.objectContaining({ chat_messages: 2 }) });
    expect(await findStored(t.db, [dataDir], [user, 'hiccup.h2@example.com'])).toEqual([]);
  });

  it('answers an erasure given up (attempts used up) with 500 ERASURE_FAILED and its receipt; asking again starts anew', async () => {
    const user = 'given-up-g3';
    await seedUser(t, user);
    const hash = await t.app.get(AuditLog).userIdHash(user);
    // Left running by a stopped instance after its last allowed attempt.
    const { insertedId } = await t.db.collection('chat_erasures').insertOne({
      subjectHash: hash,
      subjectUserId: user,
      mode: 'erase',
      requestedBy: { userId: 'dpo', roles: ADMIN, self: false },
      reason: null,
      state: 'running',
      activeKey: `active:${hash}`,
      providersDone: [],
      counts: [],
      attempts: 10,
      audited: false,
      error: 'the store hiccuped',
      startedAt: new Date(Date.now() - 60 * 60_000),
      finishedAt: null,
      claimedBy: 'a-stopped-instance',
      claimedUntil: new Date(Date.now() - 60_000),
    });
    const response = await t.http().delete(`${API}/admin/users/${user}/data`).set(admin()).expect(500);
    expect(response.body).toMatchObject({
      code: 'ERASURE_FAILED',
      details: { erasure: { erasureId: insertedId.toHexString(), state: 'failed', error: expect.stringContaining('Given up after 10') } },
    });
    expect((response.body.details.erasure as Receipt).providers.every((provider) => !provider.done)).toBe(true);
    const again = (await t.http().delete(`${API}/admin/users/${user}/data`).set(admin()).expect(200)).body as Receipt;
    expect(again).toMatchObject({ state: 'done', attempts: 1, counts: expect.objectContaining({ chat_messages: 2 }) });
    expect(again.erasureId).not.toBe(insertedId.toHexString());
  });

  it('documents the outcomes of every erasure and anonymisation route: 200 done, 202 pending, 409 a hold, 500 given up', async () => {
    const spec = (await t.http().get('/api/docs-json').expect(200)).body as {
      paths: Record<
        string,
        Record<string, { responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }> }>
      >;
    };
    const routes = [
      ['/api/v1/chat/user/data', 'delete'],
      ['/api/v1/chat/user/anonymise', 'post'],
      ['/api/v1/chat/admin/users/{userId}/data', 'delete'],
      ['/api/v1/chat/admin/users/{userId}/anonymise', 'post'],
    ] as const;
    for (const [path, method] of routes) {
      const { responses } = spec.paths[path]![method]!;
      for (const status of ['200', '202']) {
        expect(responses[status]!.content!['application/json']!.schema).toEqual({ $ref: '#/components/schemas/ErasureReceiptDto' });
      }
      expect(responses['202']!.description).toContain('state: pending');
      expect(responses['409']!.description).toContain('nothing further was changed');
      expect(responses['500']!.description).toContain('ERASURE_FAILED');
    }
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
