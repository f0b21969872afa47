import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import mongoose from 'mongoose';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import type { ExportPart } from '../../src/common/user-data/user-data.js';
import { AuditLog, GENERATED_KEY_WARNING } from '../../src/compliance/audit/audit-log.service.js';
import { ChainedAuditEntry, entryHash, keyedUserIdHash } from '../../src/compliance/audit/audit-chain.js';
import { AUDIT_SETTINGS_COLLECTION, establishAuditHashKey } from '../../src/compliance/audit/audit-hash-key.js';
import { AUDIT_RETENTION_JOB } from '../../src/compliance/audit/audit-retention.job.js';
import { verifyAuditChain } from '../../src/compliance/audit/audit-verify.js';
import { AUDIT_LOG_COLLECTION } from '../../src/compliance/audit/schemas/audit-entry.schema.js';
import { JobScheduler } from '../../src/jobs/job-scheduler.service.js';
import { runCli } from '../support/cli.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const API = '/api/v1/chat';
const AUDIT = `${API}/admin/audit`;
const VERIFY_CLI = 'dist/src/compliance/audit/audit-verify.cli.js';
const DAY_MS = 24 * 60 * 60_000;

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

type StoredEntry = ChainedAuditEntry & { _id: mongoose.Types.ObjectId };

function entries(t: TestApp): mongoose.mongo.Collection<StoredEntry> {
  return t.db.collection<StoredEntry>(AUDIT_LOG_COLLECTION);
}

/** Entries written as the app writes them (same hashes), but at a time of the test's choosing: the log's distant past. */
function handBuiltChain(key: Buffer, count: number, at: Date, from: { seq: number; hash: string | null } = { seq: 0, hash: null }) {
  const chain: StoredEntry[] = [];
  let previous = from;
  for (let index = 0; index < count; index += 1) {
    const unhashed = {
      seq: previous.seq + 1,
      at: new Date(at.getTime() + index * 1000),
      action: 'admin.read',
      actor: { userId: 'old-admin', userIdHash: keyedUserIdHash(key, 'old-admin'), roles: ['admin'] },
      subject: { userId: 'old-user', userIdHash: keyedUserIdHash(key, 'old-user') },
      target: { type: 'messages', id: 'all-users' },
      details: { index },
      prevHash: previous.hash,
    };
    const entry = { _id: new mongoose.Types.ObjectId(), ...unhashed, hash: entryHash(key, unhashed) };
    chain.push(entry);
    previous = { seq: entry.seq, hash: entry.hash };
  }
  return chain;
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe('Audit log', () => {
  let t: TestApp;
  const admin = () => t.auth('auditor', ['admin']);
  const list = async (query: Record<string, string | number> = {}) =>
    (await t.http().get(AUDIT).query(query).set(admin()).expect(200)).body as {
      items: (StoredEntry & { at: string })[];
      nextCursor: string | null;
    };

  beforeAll(async () => {
    t = await startTestApp({ CHAT_AUTH_FAILURE_BURST: '5' });
  });
  afterAll(() => t.close());

  describe('GET /chat/admin/audit', () => {
    it('is for admins only: 401 without a token, 403 for other roles', async () => {
      await t.http().get(AUDIT).expect(401);
      const refused = await t
        .http()
        .get(AUDIT)
        .set(t.auth('picker', ['warehouse_operator']))
        .expect(403);
      expect(refused.body).toMatchObject({ code: 'FORBIDDEN' });
    });

    it('filters by subject, actor, action and time, newest first, page by page, with plain ids and hashes', async () => {
      const audit = t.app.get(AuditLog);
      const before = new Date();
      for (let index = 0; index < 5; index += 1) {
        await audit.record({
          action: 'data-export.created',
          actor: { userId: 'dpo-1', roles: ['admin'] },
          subjectUserId: 'filter-subject',
          target: { type: 'data-export', id: `export-${index}` },
          details: { index },
        });
      }
      await audit.record({ action: 'legal-hold.placed', actor: { userId: 'dpo-2', roles: ['admin'] }, subjectUserId: 'filter-subject' });
      await audit.record({ action: 'data-export.created', actor: { userId: 'dpo-1', roles: ['admin'] }, subjectUserId: 'someone-else' });

      const first = await list({ subjectId: 'filter-subject', action: 'data-export.created', limit: 2 });
      expect(first.items.map((entry) => entry.target?.id)).toEqual(['export-4', 'export-3']);
      expect(first.items[0]).toMatchObject({
        action: 'data-export.created',
        actor: { userId: 'dpo-1', userIdHash: await audit.userIdHash('dpo-1'), roles: ['admin'] },
        subject: { userId: 'filter-subject', userIdHash: await audit.userIdHash('filter-subject') },
        details: { index: 4 },
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        prevHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      expect(first.items[0]!.seq).toBeGreaterThan(first.items[1]!.seq);
      const second = await list({ subjectId: 'filter-subject', action: 'data-export.created', limit: 2, cursor: first.nextCursor! });
      const third = await list({ subjectId: 'filter-subject', action: 'data-export.created', limit: 2, cursor: second.nextCursor! });
      expect([...second.items, ...third.items].map((entry) => entry.target?.id)).toEqual(['export-2', 'export-1', 'export-0']);
      expect(third.nextCursor).toBeNull();

      // Besides the listings of this test, which are recorded as reads about the subject (see below).
      const written = async (query: Record<string, string>) => (await list(query)).items.filter((entry) => entry.action !== 'admin.read');
      expect(await written({ subjectId: 'filter-subject' })).toHaveLength(6);
      expect((await list({ actorId: 'dpo-2' })).items.map((entry) => entry.action)).toEqual(['legal-hold.placed']);
      expect(await written({ subjectId: 'filter-subject', from: before.toISOString() })).toHaveLength(6);
      expect(await written({ subjectId: 'filter-subject', to: before.toISOString() })).toHaveLength(0);
      expect((await list({ subjectId: 'nobody-at-all' })).items).toHaveLength(0);
    });

    it('records the listing itself once (its first page), as a read about the subject filtered on, by hashes only', async () => {
      const audit = t.app.get(AuditLog);
      const listedHash = await audit.userIdHash('listed');
      for (let index = 0; index < 3; index += 1) {
        await audit.record({ action: 'data-export.downloaded', actor: { userId: 'listed', roles: [] }, subjectUserId: 'listed' });
      }
      const page = await list({ subjectId: 'listed', limit: 2 });
      await list({ subjectId: 'listed', limit: 2, cursor: page.nextCursor! });
      const reads = (await list({ action: 'admin.read', actorId: 'auditor' })).items.filter(
        (entry) => entry.target?.type === 'audit-log' && entry.subject?.userIdHash === listedHash,
      );
      expect(reads).toHaveLength(1);
      // The person searched for is named by the keyed hash alone: a search for an erased user writes no id back.
      expect(reads[0]!.subject).toEqual({ userIdHash: listedHash });
      expect(reads[0]!.details).toEqual({ route: 'GET /api/v1/chat/admin/audit', filter: { subjectIdHash: listedHash, limit: 2 } });

      await list({ actorId: 'searched-actor' });
      const byActor = await entries(t).findOne({
        action: 'admin.read',
        'details.filter.actorIdHash': await audit.userIdHash('searched-actor'),
      });
      expect(byActor).toMatchObject({ subject: null, actor: { userId: 'auditor' } });
      expect(JSON.stringify(byActor)).not.toContain('searched-actor');
    });

    it.each([
      [{ action: 'not.an.action' }, 'VALIDATION_FAILED'],
      [{ subjectId: 'has spaces' }, 'VALIDATION_FAILED'],
      [{ actorId: 'x'.repeat(129) }, 'VALIDATION_FAILED'],
      [{ limit: '0' }, 'VALIDATION_FAILED'],
      [{ limit: '101' }, 'VALIDATION_FAILED'],
      [{ from: 'yesterday' }, 'VALIDATION_FAILED'],
      [{ from: '2025-02-01T00:00:00Z', to: '2025-01-01T00:00:00Z' }, 'VALIDATION_FAILED'],
      [{ cursor: 'not-a-cursor' }, 'INVALID_CURSOR'],
      [{ cursor: Buffer.from(JSON.stringify({ s: 'audit', q: -1 })).toString('base64url') }, 'INVALID_CURSOR'],
      [{ unknown: '1' }, 'VALIDATION_FAILED'],
    ])('answers 400 to %j', async (query, code) => {
      const response = await t.http().get(AUDIT).query(query).set(admin()).expect(400);
      expect(response.body).toMatchObject({ code });
    });
  });

  describe('what is recorded', () => {
    it('agent changes, with the admin who made them and the fields changed (never their values)', async () => {
      await t
        .http()
        .post(`${API}/agents`)
        .set(t.auth('agent-admin', ['admin']))
        .send({
          key: 'audited-agent',
          name: 'Audited',
          allowedRoles: ['warehouse_operator'],
          systemPrompt: 'You help with returns.',
          provider: 'playbook',
        })
        .expect(201);
      await t
        .http()
        .patch(`${API}/agents/audited-agent`)
        .set(t.auth('agent-admin', ['admin']))
        .send({ systemPrompt: 'Secret prompt text', temperature: 0.5 })
        .expect(200);
      await t
        .http()
        .delete(`${API}/agents/audited-agent`)
        .set(t.auth('agent-admin', ['admin']))
        .expect(204);
      // Refused changes leave no entry.
      await t
        .http()
        .delete(`${API}/agents/audited-agent`)
        .set(t.auth('agent-admin', ['admin']))
        .expect(404);
      await t
        .http()
        .patch(`${API}/agents/picking-assistant`)
        .set(t.auth('picker', ['warehouse_operator']))
        .send({ name: 'x' })
        .expect(403);

      // The answers waited for the entries: they are there now.
      const changes = (await list({ action: 'agent.changed' })).items.reverse();
      expect(changes.map((entry) => entry.details)).toEqual([
        { change: 'created', version: 1 },
        { change: 'updated', version: 2, fields: ['systemPrompt', 'temperature'] },
        { change: 'deleted', version: null },
      ]);
      for (const entry of changes) {
        expect(entry).toMatchObject({
          actor: { userId: 'agent-admin', roles: ['admin'] },
          target: { type: 'agent', id: 'audited-agent' },
          subject: null,
        });
      }
      expect(JSON.stringify(changes)).not.toContain('Secret prompt text');
    });

    it('admin reads of every user’s messages: once per request, with the filter; refused reads leave nothing', async () => {
      const since = '2020-01-01T00:00:00.000Z';
      const before = (await list({ action: 'admin.read' })).items.filter((entry) => entry.target?.type === 'messages').length;
      await t
        .http()
        .get(`${API}/admin/export/messages`)
        .query({ updatedSince: since, limit: 5 })
        .set(t.auth('bi-admin', ['admin']))
        .expect(200);
      await t
        .http()
        .get(`${API}/admin/export/messages`)
        .set(t.auth('picker', ['warehouse_operator']))
        .expect(403);
      await t
        .http()
        .get(`${API}/admin/export/messages`)
        .query({ cursor: '!!' })
        .set(t.auth('bi-admin', ['admin']))
        .expect(400);
      const reads = (await list({ action: 'admin.read' })).items.filter((entry) => entry.target?.type === 'messages');
      expect(reads).toHaveLength(before + 1);
      expect(reads[0]).toMatchObject({
        actor: { userId: 'bi-admin', roles: ['admin'] },
        subject: null,
        target: { type: 'messages', id: 'all-users' },
        details: { route: 'GET /api/v1/chat/admin/export/messages', filter: { updatedSince: since, limit: 5, until: expect.any(String) } },
      });
    });

    it('bursts of failed authentication: one entry per address per minute, with a keyed hash and the network, never the address', async () => {
      const audit = t.app.get(AuditLog);
      const fail = (ip: string) =>
        t.http().get(`${API}/conversations`).set('X-Forwarded-For', ip).set('Authorization', 'Bearer not-a-token').expect(401);
      const bursts = async () => (await list({ action: 'auth.failure-burst' })).items;
      // Below the threshold (5): nothing. Nine failures give exactly one minute with five or more, whichever minutes they fall in.
      for (let i = 0; i < 4; i += 1) await fail('198.51.100.7');
      for (let i = 0; i < 9; i += 1) await fail('203.0.113.9');
      for (let i = 0; i < 9; i += 1) await fail('2001:db8:1234:5678::1');
      const found = await until('two bursts recorded', async () => {
        const current = await bursts();
        return current.length >= 2 && current;
      });
      // Counting happens as each failure is announced, so nothing else can still be on its way.
      expect(await bursts()).toHaveLength(2);
      const byNetwork = Object.fromEntries(found.map((entry) => [entry.details.network, entry]));
      expect(byNetwork['203.0.113.0/24']).toMatchObject({
        actor: { system: 'auth' },
        subject: null,
        details: {
          ipHash: await audit.ipHash('203.0.113.9'),
          failures: 5,
          windowSeconds: 60,
          reasons: ['Bearer token is invalid'],
          windowStart: expect.stringMatching(/:00\.000Z$/),
        },
      });
      expect(byNetwork['2001:db8:1234::/48']).toMatchObject({ details: { ipHash: await audit.ipHash('2001:db8:1234:5678::1') } });
      expect(JSON.stringify(found)).not.toMatch(/203\.0\.113\.9|5678::1|198\.51\.100/);
    });
  });

  describe('the chain', () => {
    it('verifies, with every entry written so far', async () => {
      const report = await verifyAuditChain(t.db);
      expect(report).toMatchObject({ intact: true, broken: null, firstSeq: 1, anchor: null });
      expect(report.entries).toBe(await entries(t).countDocuments());
      expect(report.lastSeq).toBe(report.entries);
    });

    it('a user’s entries: exported, then erased down to their keyed hash while the chain still verifies', async () => {
      const audit = t.app.get(AuditLog);
      await audit.record({
        action: 'data-export.created',
        actor: { userId: 'leaver', roles: [] },
        subjectUserId: 'leaver',
        target: { type: 'data-export', id: 'e1' },
      });
      await audit.record({
        action: 'admin.read',
        actor: { userId: 'hr-admin', roles: ['admin'] },
        subjectUserId: 'leaver',
        details: { reason: 'case-1' },
      });
      await audit.record({
        action: 'legal-hold.released',
        actor: { userId: 'leaver', roles: ['admin'] },
        subjectUserId: 'other-user',
        target: { type: 'legal-hold', id: '665f1c2e9b1d8a00aaaaaaaa' },
        details: { target: 'conversation', conversationId: '665f1c2e9b1d8a00bbbbbbbb', reason: 'Other user’s dispute settled' },
      });
      const provider = t.app
        .get(UserDataRegistry)
        .userDataProviders()
        .find((candidate) => candidate.name === 'audit-log')!;
      expect(provider.holdings).toEqual([
        expect.objectContaining({ store: AUDIT_LOG_COLLECTION, userFields: ['actor.userId', 'subject.userId'] }),
      ]);
      // The read names the leaver by hash alone already (admin.read never keeps the subject's plain id).
      expect(await provider.inventory('leaver')).toEqual({ [AUDIT_LOG_COLLECTION]: 2 });

      const parts: ExportPart[] = await collect(provider.export('leaver'));
      expect(parts.map((part) => part.kind === 'records' && part.name)).toEqual(['audit-entries']);
      const records = await collect((parts[0] as Extract<ExportPart, { kind: 'records' }>).records);
      expect(records).toEqual([
        expect.objectContaining({ action: 'data-export.created', yourPart: 'subject and actor', actedBy: 'you' }),
        expect.objectContaining({ action: 'admin.read', yourPart: 'subject', actedBy: 'another user', actorRoles: ['admin'] }),
        // An action about someone else: what the leaver did and when, nothing of the other person (no details, no id acted on).
        {
          seq: expect.any(Number),
          at: expect.any(String),
          action: 'legal-hold.released',
          yourPart: 'actor',
          target: { type: 'legal-hold' },
        },
      ]);
      // Other people appear by their roles only.
      expect(JSON.stringify(records)).not.toMatch(/hr-admin|other-user|dispute|665f1c2e9b1d8a00/);

      expect(await provider.erase('leaver')).toEqual({ [AUDIT_LOG_COLLECTION]: 3 });
      expect(await provider.erase('leaver')).toEqual({ [AUDIT_LOG_COLLECTION]: 0 });
      expect(await provider.inventory('leaver')).toEqual({ [AUDIT_LOG_COLLECTION]: 0 });
      const leaverHash = await audit.userIdHash('leaver');
      const mentioning = await entries(t)
        .find({ $or: [{ 'actor.userIdHash': leaverHash }, { 'subject.userIdHash': leaverHash }] })
        .toArray();
      expect(mentioning).toHaveLength(3);
      expect(JSON.stringify(mentioning)).not.toContain('"leaver"');
      // Found again by the hash, and the others in them keep their ids.
      const about = (await list({ subjectId: 'leaver' })).items.filter((entry) => entry.action !== 'admin.read' || entry.details.reason);
      expect(about.map((entry) => entry.subject)).toEqual([{ userIdHash: leaverHash }, { userIdHash: leaverHash }]);
      expect(about[0]!.actor).toMatchObject({ userId: 'hr-admin' });
      expect(await verifyAuditChain(t.db)).toMatchObject({ intact: true });
    });

    it('entries recording an erasure or anonymisation keep only the hash of the user, never the plain id', async () => {
      const audit = t.app.get(AuditLog);
      await audit.record({
        action: 'user.erased',
        actor: { userId: 'gone-user', roles: [] },
        subjectUserId: 'gone-user',
        details: { removed: 12 },
      });
      await audit.record({ action: 'user.anonymised', actor: { userId: 'dpo-1', roles: ['admin'] }, subjectUserId: 'anon-user' });
      const [erased, anonymised] = (await list({ limit: 10 })).items.filter((entry) => entry.action.startsWith('user.')).reverse();
      expect(erased).toMatchObject({
        actor: { userIdHash: await audit.userIdHash('gone-user'), roles: [] },
        subject: { userIdHash: await audit.userIdHash('gone-user') },
      });
      expect(erased!.actor.userId).toBeUndefined();
      expect(erased!.subject!.userId).toBeUndefined();
      expect(anonymised).toMatchObject({ actor: { userId: 'dpo-1' }, subject: { userIdHash: await audit.userIdHash('anon-user') } });
      expect(anonymised!.subject!.userId).toBeUndefined();
    });

    (existsSync(VERIFY_CLI) ? it : it.skip)(
      `npm run audit:verify answers 0 with a summary (runs ${VERIFY_CLI}; skipped when dist/ is not built)`,
      async () => {
        await t.app.get(AuditLog).record({ action: 'retention.run', actor: { system: 'retention' }, details: { purged: 0 } });
        const run = await runCli(VERIFY_CLI, t.db.databaseName, [], { CHAT_AUDIT_HASH_KEY: undefined });
        expect(run.code).toBe(0);
        expect(run.stdout).toMatch(/audit log: intact: \d+ entries, seq 1\.\.\d+/);
        expect(run.stdout).toMatch(/last entry: seq \d+, hash [0-9a-f]{64}/);
      },
    );
  });
});

describe('Audit chain tampering', () => {
  let t: TestApp;
  /** The seq of this suite's entry `index` (entries other parts write at boot may come first). */
  let seqOf: (index: number) => number;

  beforeAll(async () => {
    t = await startTestApp();
    const audit = t.app.get(AuditLog);
    for (let index = 0; index < 8; index += 1) {
      await audit.record({
        action: 'admin.read',
        actor: { userId: 'tamper-admin', roles: ['admin'] },
        subjectUserId: `user-${index}`,
        details: { index },
      });
    }
    const first = (await entries(t).findOne({ 'actor.userId': 'tamper-admin', 'details.index': 0 }))!.seq;
    seqOf = (index) => first + index;
  });
  afterAll(() => t.close());

  it('finds an entry edited in the database, naming its seq', async () => {
    await entries(t).updateOne({ seq: seqOf(3) }, { $set: { 'details.index': 30 } });
    expect(await verifyAuditChain(t.db)).toMatchObject({
      intact: false,
      entries: seqOf(2),
      broken: { seq: seqOf(3), problem: 'hash-mismatch' },
    });
    await entries(t).updateOne({ seq: seqOf(3) }, { $set: { 'details.index': 3 } });
    expect(await verifyAuditChain(t.db)).toMatchObject({ intact: true, broken: null });
  });

  it('finds a plain user id swapped for another one (the hash does not cover it, its keyed hash does)', async () => {
    await entries(t).updateOne({ seq: seqOf(4) }, { $set: { 'subject.userId': 'someone-innocent' } });
    expect(await verifyAuditChain(t.db)).toMatchObject({ intact: false, broken: { seq: seqOf(4), problem: 'user-id-mismatch' } });
    await entries(t).updateOne({ seq: seqOf(4) }, { $set: { 'subject.userId': 'user-4' } });
  });

  it('finds a deleted entry, and one whose hash was recomputed without the key', async () => {
    const removed = (await entries(t).findOne({ seq: seqOf(5) }))!;
    await entries(t).deleteOne({ seq: seqOf(5) });
    expect(await verifyAuditChain(t.db)).toMatchObject({ intact: false, entries: seqOf(4), broken: { seq: seqOf(5), problem: 'seq-gap' } });
    await entries(t).insertOne(removed);

    const forged = (await entries(t).findOne({ seq: seqOf(1) }))!;
    const changed = { ...forged, details: { index: 99 } };
    await entries(t).updateOne(
      { seq: seqOf(1) },
      { $set: { details: changed.details, hash: entryHash(Buffer.from('a guess at the key, not the key'), changed) } },
    );
    expect(await verifyAuditChain(t.db)).toMatchObject({ intact: false, broken: { seq: seqOf(1), problem: 'hash-mismatch' } });
    await entries(t).replaceOne({ seq: seqOf(1) }, forged);
    expect(await verifyAuditChain(t.db)).toMatchObject({ intact: true, broken: null });
  });

  it('refuses to check with a key other than the log’s', async () => {
    await expect(verifyAuditChain(t.db, 'another-key-of-at-least-32-characters!!')).rejects.toThrow(
      /CHAT_AUDIT_HASH_KEY is set, but the audit log was started without it/,
    );
  });

  (existsSync(VERIFY_CLI) ? it : it.skip)(
    `npm run audit:verify exits 1 naming the first broken link (runs ${VERIFY_CLI}; skipped when dist/ is not built)`,
    async () => {
      await entries(t).updateOne({ seq: seqOf(2) }, { $set: { action: 'legal-hold.placed' } });
      const run = await runCli(VERIFY_CLI, t.db.databaseName, [], { CHAT_AUDIT_HASH_KEY: undefined });
      await entries(t).updateOne({ seq: seqOf(2) }, { $set: { action: 'admin.read' } });
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(`audit log: BROKEN at seq ${seqOf(2)} (hash-mismatch)`);
    },
  );
});

describe('Audit chain across instances', () => {
  it('stays one chain, without gaps, when two instances append at once', async () => {
    const dbName = `test_${randomBytes(6).toString('hex')}`;
    const a = await startTestApp({}, { dbName });
    const b = await startTestApp({}, { dbName });
    try {
      const perInstance = 40;
      const write = (app: TestApp, name: string) =>
        Array.from({ length: perInstance }, (_, index) =>
          app.app.get(AuditLog).record({ action: 'admin.read', actor: { system: name }, details: { index } }),
        );
      await Promise.all([...write(a, 'instance-a'), ...write(b, 'instance-b')]);
      const stored = await entries(a)
        .find({}, { sort: { seq: 1 } })
        .toArray();
      // Every entry, these and any other part wrote meanwhile: one chain, 1, 2, 3, ... without a gap.
      expect(stored.length).toBeGreaterThanOrEqual(2 * perInstance);
      expect(stored.map((entry) => entry.seq)).toEqual(Array.from({ length: stored.length }, (_, index) => index + 1));
      expect(await verifyAuditChain(a.db)).toMatchObject({ intact: true, entries: stored.length, firstSeq: 1, lastSeq: stored.length });
      for (const name of ['instance-a', 'instance-b']) {
        expect(stored.filter((entry) => entry.actor.system === name).map((entry) => entry.details.index)).toEqual(
          Array.from({ length: perInstance }, (_, index) => index),
        );
      }
      expect(await a.app.get(AuditLog).userIdHash('x')).toBe(await b.app.get(AuditLog).userIdHash('x'));
    } finally {
      await b.app.close();
      await a.close();
    }
  });

  it('agrees on one generated hash key when instances create it at once', async () => {
    const client = await new mongoose.mongo.MongoClient(process.env.TEST_MONGODB_URI!).connect();
    const db = client.db(`audit_key_${randomBytes(5).toString('hex')}`);
    try {
      const keys = await Promise.all(Array.from({ length: 6 }, () => establishAuditHashKey(db, undefined)));
      expect(new Set(keys.map((key) => key.toString('hex'))).size).toBe(1);
      expect(await db.collection(AUDIT_SETTINGS_COLLECTION).countDocuments()).toBe(1);
      await expect(establishAuditHashKey(db, 'a-configured-key-of-at-least-32-chars')).rejects.toThrow(/started without it/);
    } finally {
      await db.dropDatabase();
      await client.close();
    }
  });
});

describe('Audit retention (audit-retention job)', () => {
  const KEY = 'audit-retention-test-key-0123456789abcdef';
  let t: TestApp;
  let old: StoredEntry[];
  const longAgo = new Date(Date.now() - 100 * DAY_MS);

  /**
   * Six entries from 100 days ago, written before the app starts (so they are the start of the
   * chain whatever the app writes at boot), then `recent` entries written now through the app.
   */
  async function start(recent: number): Promise<void> {
    const dbName = `test_${randomBytes(6).toString('hex')}`;
    const client = await new mongoose.mongo.MongoClient(process.env.TEST_MONGODB_URI!).connect();
    old = handBuiltChain(Buffer.from(KEY, 'utf8'), 6, longAgo);
    await client.db(dbName).collection(AUDIT_LOG_COLLECTION).insertMany(old);
    await client.close();
    t = await startTestApp({ CHAT_AUDIT_RETENTION_DAYS: '30', CHAT_AUDIT_HASH_KEY: KEY }, { dbName });
    for (let index = 0; index < recent; index += 1) {
      await t.app
        .get(AuditLog)
        .record({ action: 'legal-hold.placed', actor: { userId: 'dpo', roles: ['admin'] }, subjectUserId: 'held', details: { index } });
    }
  }
  const verify = () => verifyAuditChain(t.db, KEY);
  const seqs = async () =>
    (
      await entries(t)
        .find({}, { sort: { seq: 1 } })
        .toArray()
    ).map((entry) => entry.seq);

  afterEach(() => t.close());

  it('prunes what outlived CHAT_AUDIT_RETENTION_DAYS from the start of the chain, anchored by an audit.pruned entry that verify checks', async () => {
    await start(3);
    const before = await seqs();
    const run = await t.app.get(JobScheduler).runNow(AUDIT_RETENTION_JOB);
    expect(run).toMatchObject({ status: 'succeeded', counts: { pruned: 6, resumed: 0 } });
    const kept = await entries(t)
      .find({}, { sort: { seq: 1 } })
      .toArray();
    const pruning = kept.find((entry) => entry.action === 'audit.pruned')!;
    expect(kept.map((entry) => entry.seq)).toEqual([...before.filter((seq) => seq > 6), pruning.seq]);
    expect(pruning).toMatchObject({
      actor: { system: 'audit-retention' },
      details: {
        fromSeq: 1,
        throughSeq: 6,
        entries: 6,
        lastPrunedHash: old[5]!.hash,
        lastPrunedAt: old[5]!.at.toISOString(),
        retentionDays: 30,
      },
    });
    expect(await verify()).toMatchObject({
      intact: true,
      entries: kept.length,
      firstSeq: 7,
      anchor: { seq: pruning.seq, fromSeq: 1, throughSeq: 6 },
    });

    // Nothing more is old enough: the next run prunes nothing and records nothing.
    expect(await t.app.get(JobScheduler).runNow(AUDIT_RETENTION_JOB)).toMatchObject({ status: 'succeeded', counts: { pruned: 0 } });
    expect(await entries(t).countDocuments({ action: 'audit.pruned' })).toBe(1);

    // Tampering after a pruning is still found: the first kept entry removed, or the anchor changed.
    const firstKept = kept[0]!;
    await entries(t).deleteOne({ seq: 7 });
    expect(await verify()).toMatchObject({ intact: false, broken: { seq: 8, problem: 'unanchored-start' } });
    await entries(t).insertOne(firstKept);
    await entries(t).updateOne({ seq: pruning.seq }, { $set: { 'details.lastPrunedHash': 'f'.repeat(64) } });
    expect(await verify()).toMatchObject({ intact: false, broken: { seq: 7, problem: 'anchor-mismatch' } });
  });

  it('finishes a pruning a stopped run left half-done; verify accepts the half-done chain meanwhile', async () => {
    await start(1);
    // A run that recorded its pruning and removed three entries before its instance stopped.
    await t.app.get(AuditLog).record({
      action: 'audit.pruned',
      actor: { system: 'audit-retention' },
      details: { fromSeq: 1, throughSeq: 6, entries: 6, lastPrunedHash: old[5]!.hash },
    });
    await entries(t).deleteMany({ seq: { $in: [1, 2, 3] } });
    expect(await verify()).toMatchObject({ intact: true, firstSeq: 4, anchor: { fromSeq: 1, throughSeq: 6 } });
    // Inside the half-pruned range, changes are still found.
    await entries(t).updateOne({ seq: 5 }, { $set: { 'details.index': 50 } });
    expect(await verify()).toMatchObject({ intact: false, broken: { seq: 5, problem: 'hash-mismatch' } });
    await entries(t).updateOne({ seq: 5 }, { $set: { 'details.index': 4 } });

    expect(await t.app.get(JobScheduler).runNow(AUDIT_RETENTION_JOB)).toMatchObject({
      status: 'succeeded',
      counts: { resumed: 3, pruned: 0 },
    });
    expect((await seqs())[0]).toBe(7);
    expect(await verify()).toMatchObject({ intact: true, firstSeq: 7 });
  });

  it('prunes nothing and fails when an entry it would remove was tampered with, so the evidence stays', async () => {
    await start(1);
    const before = await entries(t).countDocuments();
    await entries(t).updateOne({ seq: 3 }, { $set: { 'subject.userIdHash': 'e'.repeat(64) } });
    const run = await t.app.get(JobScheduler).runNow(AUDIT_RETENTION_JOB);
    expect(run).toMatchObject({ status: 'failed', error: expect.stringContaining('broken at seq 3 (hash-mismatch)') });
    expect(await entries(t).countDocuments()).toBe(before);
  });
});

describe('Audit hash key kept in the database', () => {
  it('is warned about at boot (tamper evidence against database writers needs CHAT_AUDIT_HASH_KEY); a configured key is not', async () => {
    // The Nest logger, not the log output: within one test file, every app logs through the first app's pino destination.
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const warnings = () => warn.mock.calls.filter(([message]) => message === GENERATED_KEY_WARNING).length;
      const generated = await startTestApp();
      await generated.close();
      expect(warnings()).toBe(1);
      expect(GENERATED_KEY_WARNING).toMatch(/not tamper-evident against anyone who can write to the database.*needs CHAT_AUDIT_HASH_KEY/);
      const configured = await startTestApp({ CHAT_AUDIT_HASH_KEY: 'a-configured-key-of-at-least-32-chars!!' });
      await configured.close();
      expect(warnings()).toBe(1);
    } finally {
      warn.mockRestore();
    }
  });
});
