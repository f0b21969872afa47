import { jest } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import type { Test } from 'supertest';
import { Leases } from '../../src/common/jobs/lease.js';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import { RETENTION_JOB, RetentionJob } from '../../src/compliance/retention/retention.job.js';
import { ConversationsService } from '../../src/conversations/conversations.service.js';
import { JobScheduler } from '../../src/jobs/job-scheduler.service.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const API = '/api/v1/chat';
const RETENTION = `${API}/admin/retention`;
const HOLDS = `${API}/admin/legal-holds`;
const DAY_MS = 24 * 60 * 60_000;
const { ObjectId } = mongoose.Types;

type Counts = Record<string, number>;
interface PreviewPass {
  policy: string;
  key: string | null;
  days: number | null;
  action: string;
  cutoff: string;
  conversations: number;
  skippedByHold: number;
  counts: Counts;
  sampleConversationIds: string[];
  suspended: string | null;
  truncated: boolean;
}
interface Preview {
  at: string;
  enabled: boolean;
  truncated: boolean;
  policies: PreviewPass[];
  totals: { conversations: number; skippedByHold: number; counts: Counts };
}

/** Seeds conversations through the API and ages them in the store (the tests' only backdoor). */
class Seeder {
  constructor(private readonly t: TestApp) {}

  /** A conversation with one question and the playbook's reply; answers its id. */
  async conversation(user: string, roles: string[], body: { role?: string; agentKey?: string } = {}): Promise<string> {
    const id = (await this.t.http().post(`${API}/conversations`).set(this.t.auth(user, roles)).send(body).expect(201)).body.id as string;
    await this.t
      .http()
      .post(`${API}/conversations/${id}/messages`)
      .set(this.t.auth(user, roles))
      .send({ content: 'What do I do about a short pick?' })
      .expect(201);
    return id;
  }

  /** Adds a rated reply and an attached text file (processed) to the conversation. */
  async enrich(user: string, roles: string[], id: string): Promise<void> {
    const auth = this.t.auth(user, roles);
    const turn = await this.t
      .http()
      .post(`${API}/conversations/${id}/messages`)
      .set(auth)
      .send({ content: 'And a damaged carton?' })
      .expect(201);
    await this.t
      .http()
      .post(`${API}/messages/${turn.body.assistantMessage.id as string}/feedback`)
      .set(auth)
      .send({ rating: 'up' })
      .expect(200);
    const uploaded = await this.t
      .http()
      .post(`${API}/messages/${turn.body.userMessage.id as string}/attachments`)
      .set(auth)
      .attach('file', Buffer.from('Carton 7781 arrived crushed at dock 4.\n'), { filename: 'damage.txt', contentType: 'text/plain' });
    expect(uploaded.status).toBe(201);
    const attachmentId = uploaded.body.items[0].id as string;
    const deadline = Date.now() + 15_000;
    while ((await this.t.http().get(`${API}/attachments/${attachmentId}`).set(auth).expect(200)).body.processingStatus === 'pending') {
      if (Date.now() > deadline) throw new Error(`attachment ${attachmentId} still pending`);
      await new Promise((wake) => setTimeout(wake, 50));
    }
  }

  async age(id: string, days: number): Promise<void> {
    await this.t.db
      .collection('chat_conversations')
      .updateOne({ _id: new ObjectId(id) }, { $set: { lastActivityAt: new Date(Date.now() - days * DAY_MS) } });
  }

  /** Deletes it with permanent=true, as `minutesAgo` minutes ago. */
  async deletePermanently(user: string, roles: string[], id: string, minutesAgo: number): Promise<void> {
    await this.t.http().delete(`${API}/conversations/${id}?permanent=true`).set(this.t.auth(user, roles)).expect(204);
    await this.t.db
      .collection('chat_conversations')
      .updateOne({ _id: new ObjectId(id) }, { $set: { deletedAt: new Date(Date.now() - minutesAgo * 60_000) } });
  }
}

/** What the store holds under each conversation. */
async function storedUnder(t: TestApp, ids: string[]): Promise<Record<string, Counts>> {
  const result: Record<string, Counts> = {};
  for (const id of ids) {
    const conversationId = new ObjectId(id);
    result[id] = {
      conversation: await t.db.collection('chat_conversations').countDocuments({ _id: conversationId }),
      messages: await t.db.collection('chat_messages').countDocuments({ conversationId }),
      feedback: await t.db.collection('chat_message_feedback').countDocuments({ conversationId }),
      attachments: await t.db.collection('chat_attachments').countDocuments({ conversationId }),
    };
  }
  return result;
}

const gone = { conversation: 0, messages: 0, feedback: 0, attachments: 0 };

async function filesUnder(directory: string): Promise<string[]> {
  return (await readdir(directory, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => entry.name);
}

describe('Retention', () => {
  let t: TestApp;
  let seed: Seeder;
  let attachmentsDir: string;
  const admin = () => t.auth('retention-admin', ['admin']);
  const preview = async (): Promise<Preview> => (await t.http().get(`${RETENTION}/preview`).set(admin()).expect(200)).body as Preview;
  const pass = (view: Preview, policy: string, key: string | null = null) =>
    view.policies.find((each) => each.policy === policy && each.key === key)!;
  const storeCounts = () =>
    Promise.all(
      ['chat_conversations', 'chat_messages', 'chat_message_feedback', 'chat_attachments'].map((name) =>
        t.db.collection(name).countDocuments(),
      ),
    );

  beforeAll(async () => {
    attachmentsDir = await mkdtemp(join(tmpdir(), 'wms-retention-'));
    t = await startTestApp({
      CHAT_RETENTION_DAYS: '30',
      CHAT_PERMANENT_DELETE_GRACE_MINUTES: '60',
      ATTACHMENTS_DIR: attachmentsDir,
      CHAT_RATE_LIMIT_PER_MINUTE: '10000',
    });
    seed = new Seeder(t);
  });
  afterAll(async () => {
    await t.close();
    await rm(attachmentsDir, { recursive: true, force: true });
  });

  afterEach(async () => {
    // Housekeeping, not a state under test: each test starts from an empty history and no
    // overrides, since what one leaves behind would be due in the next. Holds are released
    // through the API by the tests that place them.
    for (const name of ['chat_conversations', 'chat_messages', 'chat_message_feedback', 'chat_attachments', 'chat_retention_policies']) {
      await t.db.collection(name).deleteMany({});
    }
  });

  it('applies the default, role overrides and agent overrides (agent over role over default), and purges permanent deletes after the grace', async () => {
    const operator = ['warehouse_operator'];
    const supervisor = ['supervisor'];
    const manager = ['inventory_manager'];
    // Default (30 days): 40 days old goes, 20 days old stays.
    const defaultOld = await seed.conversation('op-1', operator);
    await seed.enrich('op-1', operator, defaultOld);
    const defaultRecent = await seed.conversation('op-1', operator);
    // Role supervisor (365 days): 40 days old stays, 400 days old goes.
    const roleKept = await seed.conversation('sup-1', supervisor, { agentKey: 'operations-assistant' });
    const roleOld = await seed.conversation('sup-1', supervisor, { agentKey: 'picking-assistant' });
    // Agent inventory-assistant (10 days) beats the supervisor role's 365: 15 days old goes, 5 days old stays.
    const agentOld = await seed.conversation('sup-1', supervisor, { agentKey: 'inventory-assistant' });
    const agentRecent = await seed.conversation('inv-1', manager);
    // Deleted with permanent=true: past the grace goes whatever its age, within it stays.
    const deletedPastGrace = await seed.conversation('op-2', operator);
    const deletedWithinGrace = await seed.conversation('op-2', operator);
    await Promise.all([
      seed.age(defaultOld, 40),
      seed.age(defaultRecent, 20),
      seed.age(roleKept, 40),
      seed.age(roleOld, 400),
      seed.age(agentOld, 15),
      seed.age(agentRecent, 5),
      seed.deletePermanently('op-2', operator, deletedPastGrace, 120),
      seed.deletePermanently('op-2', operator, deletedWithinGrace, 10),
    ]);
    await seed.age(deletedWithinGrace, 40);
    await t.http().put(`${RETENTION}/policies/role/supervisor`).set(admin()).send({ days: 365 }).expect(200);
    await t.http().put(`${RETENTION}/policies/agent/inventory-assistant`).set(admin()).send({ days: 10, action: 'delete' }).expect(200);
    expect(await filesUnder(attachmentsDir)).toHaveLength(1);

    const before = await storeCounts();
    const view = await preview();
    expect(await storeCounts()).toEqual(before);
    expect(view).toMatchObject({ enabled: true, truncated: false });
    expect(view.policies.every((each) => !each.truncated)).toBe(true);
    expect(view.policies.map((each) => [each.policy, each.key])).toEqual([
      ['agent', 'inventory-assistant'],
      ['role', 'supervisor'],
      ['default', null],
      ['permanently-deleted', null],
    ]);
    expect(pass(view, 'agent', 'inventory-assistant')).toMatchObject({ days: 10, conversations: 1, sampleConversationIds: [agentOld] });
    expect(pass(view, 'role', 'supervisor')).toMatchObject({ days: 365, conversations: 1, sampleConversationIds: [roleOld] });
    expect(pass(view, 'default')).toMatchObject({ days: 30, action: 'delete', conversations: 1, sampleConversationIds: [defaultOld] });
    expect(pass(view, 'permanently-deleted')).toMatchObject({ days: null, conversations: 1, sampleConversationIds: [deletedPastGrace] });
    expect(pass(view, 'default').counts).toEqual({
      chat_conversations: 1,
      chat_messages: 4,
      chat_message_feedback: 1,
      chat_attachments: 1,
      'files:attachments': 1,
    });
    expect(view.totals).toMatchObject({ conversations: 4, skippedByHold: 0 });
    expect(view.totals.counts).toMatchObject({ chat_conversations: 4, chat_messages: 10 });

    const run = await t.http().post(`${RETENTION}/run`).set(admin()).expect(200);
    expect(run.body).toMatchObject({ job: 'retention', trigger: 'manual', status: 'succeeded', error: null });
    expect(run.body.counts).toMatchObject({ disabled: 0, conversations: 4, skippedByHold: 0 });
    // What the preview announced is exactly what the run removed.
    for (const [store, count] of Object.entries(view.totals.counts))
      expect([store, run.body.counts[`purged:${store}`]]).toEqual([store, count]);

    const after = await storedUnder(t, [
      defaultOld,
      roleOld,
      agentOld,
      deletedPastGrace,
      defaultRecent,
      roleKept,
      agentRecent,
      deletedWithinGrace,
    ]);
    for (const id of [defaultOld, roleOld, agentOld, deletedPastGrace]) expect(after[id]).toEqual(gone);
    for (const id of [defaultRecent, roleKept, agentRecent]) expect(after[id]).toMatchObject({ conversation: 1, messages: 2 });
    expect(after[deletedWithinGrace]).toMatchObject({ conversation: 1, messages: 2 });
    expect(await filesUnder(attachmentsDir)).toEqual([]);

    // The receipt, with the admin who asked for the run as its actor.
    const receipt = await t.db.collection('chat_audit_log').findOne({ action: 'retention.run', 'target.id': run.body.id });
    expect(receipt).toMatchObject({
      actor: expect.objectContaining({ userId: 'retention-admin', roles: ['admin'] }),
      target: { type: 'job-run', id: run.body.id },
      details: {
        disabled: false,
        outcome: 'succeeded',
        totals: { conversations: 4, skippedByHold: 0, purged: view.totals.counts, anonymised: {} },
        policies: expect.arrayContaining([
          expect.objectContaining({
            policy: 'agent',
            key: 'inventory-assistant',
            conversations: 1,
            counts: pass(view, 'agent', 'inventory-assistant').counts,
          }),
        ]),
      },
    });
    expect((await preview()).totals.conversations).toBe(0);
  });

  it('skips held users and held conversations (counted), and purges them once the holds are released', async () => {
    const operator = ['warehouse_operator'];
    const heldUsersConversation = await seed.conversation('held-picker', operator);
    const heldConversation = await seed.conversation('free-picker', operator);
    const freeConversation = await seed.conversation('free-picker', operator);
    await Promise.all([heldUsersConversation, heldConversation, freeConversation].map((id) => seed.age(id, 90)));
    const onUser = (await t.http().post(HOLDS).set(admin()).send({ target: 'user', targetId: 'held-picker', reason: 'Case 1' }).expect(201))
      .body;
    const onConversation = (
      await t.http().post(HOLDS).set(admin()).send({ target: 'conversation', targetId: heldConversation, reason: 'Case 2' }).expect(201)
    ).body;

    const view = await preview();
    expect(pass(view, 'default')).toMatchObject({ conversations: 1, skippedByHold: 2, sampleConversationIds: [freeConversation] });
    const run = await t.app.get(JobScheduler).runNow(RETENTION_JOB);
    expect(run).toMatchObject({ status: 'succeeded', counts: expect.objectContaining({ conversations: 1, skippedByHold: 2 }) });
    let stored = await storedUnder(t, [heldUsersConversation, heldConversation, freeConversation]);
    expect(stored[freeConversation]).toEqual(gone);
    expect(stored[heldUsersConversation]).toMatchObject({ conversation: 1, messages: 2 });
    expect(stored[heldConversation]).toMatchObject({ conversation: 1, messages: 2 });
    // A run the scheduler starts by itself is the job's own doing.
    expect(await t.db.collection('chat_audit_log').findOne({ action: 'retention.run', 'target.id': run.id })).toMatchObject({
      actor: { system: 'retention' },
      details: { totals: { skippedByHold: 2 } },
    });

    for (const hold of [onUser, onConversation]) {
      await t
        .http()
        .post(`${HOLDS}/${hold.id as string}/release`)
        .set(admin())
        .send({ reason: 'Closed' })
        .expect(200);
    }
    const released = await t.app.get(JobScheduler).runNow(RETENTION_JOB);
    expect(released.counts).toMatchObject({ conversations: 2, skippedByHold: 0 });
    stored = await storedUnder(t, [heldUsersConversation, heldConversation]);
    expect(Object.values(stored)).toEqual([gone, gone]);
  });

  it('finishes a purge that was interrupted after the records under a conversation went but before the conversation did', async () => {
    const operator = ['warehouse_operator'];
    const interrupted = await seed.conversation('crash-picker', operator);
    await seed.age(interrupted, 90);
    // What a run killed mid-batch leaves: every store under the conversation purged, the conversation itself not yet.
    for (const provider of t.app.get(UserDataRegistry).conversationDataProviders()) {
      await provider.purgeConversations([new ObjectId(interrupted)]);
    }
    expect(await storedUnder(t, [interrupted])).toEqual({ [interrupted]: { ...gone, conversation: 1 } });

    const run = await t.app.get(JobScheduler).runNow(RETENTION_JOB);
    expect(run).toMatchObject({
      status: 'succeeded',
      counts: expect.objectContaining({ conversations: 1, 'purged:chat_conversations': 1, 'purged:chat_messages': 0 }),
    });
    expect(await storedUnder(t, [interrupted])).toEqual({ [interrupted]: gone });
  });

  it('leaves alone a conversation that took a message between its selection and its purge', async () => {
    const operator = ['warehouse_operator'];
    const stale = await seed.conversation('back-picker', operator);
    const revived = await seed.conversation('back-picker', operator);
    await Promise.all([seed.age(stale, 90), seed.age(revived, 90)]);
    const service = t.app.get(ConversationsService);
    const select = service.findForRetention.bind(service);
    let sent = 0;
    // The owner writes right after the run has read its batch (what a message on another instance can do).
    const selection = jest.spyOn(service, 'findForRetention').mockImplementation(async (query) => {
      const found = await select(query);
      if (sent === 0 && found.some((conversation) => conversation.id.toHexString() === revived)) {
        sent = (
          await t
            .http()
            .post(`${API}/conversations/${revived}/messages`)
            .set(t.auth('back-picker', operator))
            .send({ content: 'Back on shift', reply: false })
        ).status;
      }
      return found;
    });
    try {
      const run = await t.app.get(JobScheduler).runNow(RETENTION_JOB);
      expect(run).toMatchObject({
        status: 'succeeded',
        counts: expect.objectContaining({ conversations: 1, 'purged:chat_conversations': 1 }),
      });
    } finally {
      selection.mockRestore();
    }
    expect(sent).toBe(201);
    expect(await storedUnder(t, [stale, revived])).toEqual({
      [stale]: gone,
      [revived]: { conversation: 1, messages: 3, feedback: 0, attachments: 0 },
    });
    expect(await t.http().get(`${API}/conversations/${revived}`).set(t.auth('back-picker', operator)).expect(200)).toMatchObject({
      body: { status: 'active', messageCount: 3 },
    });
  });

  it('refuses a message sent while its conversation is being purged (404), so nothing is lost or left behind', async () => {
    const operator = ['warehouse_operator'];
    const expiring = await seed.conversation('late-picker', operator);
    await seed.enrich('late-picker', operator, expiring);
    await seed.age(expiring, 90);
    const messagesStore = t.app
      .get(UserDataRegistry)
      .conversationDataProviders()
      .find((provider) => provider.name === 'messages')!;
    const purgeMessages = messagesStore.purgeConversations.bind(messagesStore);
    let answer: { status: number; code: unknown } | null = null;
    const purge = jest.spyOn(messagesStore, 'purgeConversations').mockImplementation(async (ids) => {
      const sent = await t
        .http()
        .post(`${API}/conversations/${expiring}/messages`)
        .set(t.auth('late-picker', operator))
        .send({ content: 'One more thing', reply: false });
      answer ??= { status: sent.status, code: sent.body.code };
      return purgeMessages(ids);
    });
    try {
      const run = await t.app.get(JobScheduler).runNow(RETENTION_JOB);
      expect(run).toMatchObject({ status: 'succeeded', counts: expect.objectContaining({ conversations: 1, 'purged:chat_messages': 4 }) });
    } finally {
      purge.mockRestore();
    }
    expect(answer).toEqual({ status: 404, code: 'CONVERSATION_NOT_FOUND' });
    expect(await storedUnder(t, [expiring])).toEqual({ [expiring]: gone });
    expect(await t.db.collection('chat_messages').countDocuments({ userId: 'late-picker' })).toBe(0);
  });

  it('finishes, once the grace has passed, a purge interrupted after its conversations were marked', async () => {
    const operator = ['warehouse_operator'];
    const interrupted = await seed.conversation('marked-picker', operator);
    await seed.age(interrupted, 90);
    // What a run killed right after marking its batch leaves: the conversation deleted, everything still there.
    const cutoff = new Date(Date.now() - 30 * DAY_MS);
    expect(await t.app.get(ConversationsService).markForPurge([new ObjectId(interrupted)], { lastActivityBefore: cutoff })).toEqual([
      new ObjectId(interrupted),
    ]);
    await t.http().get(`${API}/conversations/${interrupted}`).set(t.auth('marked-picker', operator)).expect(404);

    const withinGrace = await t.app.get(JobScheduler).runNow(RETENTION_JOB);
    expect(withinGrace.counts).toMatchObject({ conversations: 0 });
    expect(await storedUnder(t, [interrupted])).toEqual({ [interrupted]: { ...gone, conversation: 1, messages: 2 } });

    await t.db
      .collection('chat_conversations')
      .updateOne({ _id: new ObjectId(interrupted) }, { $set: { deletedAt: new Date(Date.now() - 2 * 60 * 60_000) } });
    const view = await preview();
    expect(pass(view, 'permanently-deleted')).toMatchObject({ conversations: 1, sampleConversationIds: [interrupted] });
    const pastGrace = await t.app.get(JobScheduler).runNow(RETENTION_JOB);
    expect(pastGrace.counts).toMatchObject({ conversations: 1, 'purged:chat_messages': 2 });
    expect(await storedUnder(t, [interrupted])).toEqual({ [interrupted]: gone });
  });

  it('stops the preview at its cap of conversations examined and says so, per pass and overall', async () => {
    const operator = ['warehouse_operator'];
    const due = [];
    for (let index = 0; index < 4; index += 1) due.push(await seed.conversation('many-picker', operator));
    const deleted = await seed.conversation('many-picker', operator);
    await Promise.all(due.map((id) => seed.age(id, 90)));
    await seed.deletePermanently('many-picker', operator, deleted, 120);
    const job = t.app.get(RetentionJob);

    const capped = await job.preview(10, 3);
    expect(capped.truncated).toBe(true);
    expect(pass(capped as Preview, 'default')).toMatchObject({ conversations: 3, truncated: true, sampleConversationIds: due.slice(0, 3) });
    // Not examined at all, and it has a conversation due.
    expect(pass(capped as Preview, 'permanently-deleted')).toMatchObject({ conversations: 0, truncated: true });
    expect(capped.totals).toMatchObject({ conversations: 3, counts: { chat_conversations: 3, chat_messages: 6 } });

    // A cap the conversations fit in exactly is not a truncation.
    const exact = await job.preview(10, 5);
    expect(exact.truncated).toBe(false);
    expect(exact.policies.map((each) => [each.policy, each.conversations, each.truncated])).toEqual([
      ['default', 4, false],
      ['permanently-deleted', 1, false],
    ]);
  });

  it('keeps the error’s message out of the receipt (class, code and a fixed text only); the run record has it', async () => {
    const operator = ['warehouse_operator'];
    const failing = await seed.conversation('dup-picker', operator);
    await seed.age(failing, 90);
    const messagesStore = t.app
      .get(UserDataRegistry)
      .conversationDataProviders()
      .find((provider) => provider.name === 'messages')!;
    const secret = 'dup-secret-4711';
    const purge = jest
      .spyOn(messagesStore, 'purgeConversations')
      .mockRejectedValue(Object.assign(new Error(`E11000 duplicate key error dup key: { userId: "${secret}" }`), { code: 11000 }));
    let run;
    try {
      run = await t.app.get(JobScheduler).runNow(RETENTION_JOB);
    } finally {
      purge.mockRestore();
    }
    expect(run).toMatchObject({ status: 'failed', error: expect.stringContaining(secret) });
    const receipt = await t.db.collection('chat_audit_log').findOne({ action: 'retention.run', 'target.id': run.id });
    expect(receipt!.details).toMatchObject({
      outcome: 'failed',
      error: { class: 'Error', code: 11000, text: expect.stringContaining('chat_job_runs') },
    });
    expect(JSON.stringify(receipt)).not.toContain(secret);
  });

  it('answers 409 RETENTION_RUN_SKIPPED while another instance holds the job’s lease', async () => {
    const lease = await new Leases(t.db, 'other-host@1:4242:abcdef').tryAcquire(`job:${RETENTION_JOB}`, 60_000);
    expect(lease).not.toBeNull();
    try {
      const response = await t.http().post(`${RETENTION}/run`).set(admin()).expect(409);
      expect(response.body).toMatchObject({
        code: 'RETENTION_RUN_SKIPPED',
        details: { reason: expect.stringContaining('other-host@1:4242:abcdef') },
      });
    } finally {
      await lease!.release();
    }
    expect((await t.http().post(`${RETENTION}/run`).set(admin()).expect(200)).body.status).toBe('succeeded');
  });

  describe('policies', () => {
    it('lists the default and the overrides, replaces and removes them, and audits every change', async () => {
      const empty = await t.http().get(`${RETENTION}/policies`).set(admin()).expect(200);
      expect(empty.body).toEqual({
        enabled: true,
        anonymizationEnabled: false,
        cron: '30 3 * * *',
        permanentDeleteGraceMinutes: 60,
        default: { days: 30, action: 'delete' },
        overrides: [],
        precedence: expect.stringContaining('agent'),
      });

      const created = await t.http().put(`${RETENTION}/policies/agent/picking-assistant`).set(admin()).send({ days: 90 }).expect(200);
      expect(created.body).toEqual({
        scope: 'agent',
        key: 'picking-assistant',
        days: 90,
        action: 'delete',
        updatedBy: { userId: 'retention-admin', roles: ['admin'] },
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const replaced = await t
        .http()
        .put(`${RETENTION}/policies/agent/picking-assistant`)
        .set(t.auth('other-admin', ['admin']))
        .send({ days: 120 })
        .expect(200);
      expect(replaced.body).toMatchObject({ days: 120, createdAt: created.body.createdAt, updatedBy: { userId: 'other-admin' } });
      await t.http().put(`${RETENTION}/policies/role/supervisor`).set(admin()).send({ days: 36500 }).expect(200);
      const listed = await t.http().get(`${RETENTION}/policies`).set(admin()).expect(200);
      expect(
        listed.body.overrides.map((policy: { scope: string; key: string; days: number }) => [policy.scope, policy.key, policy.days]),
      ).toEqual([
        ['agent', 'picking-assistant', 120],
        ['role', 'supervisor', 36500],
      ]);

      await t.http().delete(`${RETENTION}/policies/agent/picking-assistant`).set(admin()).expect(204);
      const missing = await t.http().delete(`${RETENTION}/policies/agent/picking-assistant`).set(admin()).expect(404);
      expect(missing.body.code).toBe('RETENTION_POLICY_NOT_FOUND');
      expect((await t.http().delete(`${RETENTION}/policies/role/warehouse_operator`).set(admin()).expect(404)).body.code).toBe(
        'RETENTION_POLICY_NOT_FOUND',
      );

      const changes = await t.db
        .collection('chat_audit_log')
        .find({ action: 'retention-policy.changed', 'target.id': 'agent:picking-assistant' })
        .sort({ seq: 1 })
        .toArray();
      expect(changes.map((entry) => entry.details)).toEqual([
        { scope: 'agent', key: 'picking-assistant', before: null, after: { days: 90, action: 'delete' } },
        { scope: 'agent', key: 'picking-assistant', before: { days: 90, action: 'delete' }, after: { days: 120, action: 'delete' } },
        { scope: 'agent', key: 'picking-assistant', before: { days: 120, action: 'delete' }, after: null },
      ]);
      expect(changes[1]).toMatchObject({ actor: expect.objectContaining({ userId: 'other-admin' }) });
    });

    it('refuses an anonymise policy while anonymisation is off (409 ANONYMIZATION_DISABLED)', async () => {
      const response = await t
        .http()
        .put(`${RETENTION}/policies/role/supervisor`)
        .set(admin())
        .send({ days: 30, action: 'anonymise' })
        .expect(409);
      expect(response.body.code).toBe('ANONYMIZATION_DISABLED');
      expect((await t.http().get(`${RETENTION}/policies`).set(admin()).expect(200)).body.overrides).toEqual([]);
    });

    it.each([
      ['days 0', 'role/supervisor', { days: 0 }],
      ['days over 36500', 'role/supervisor', { days: 36501 }],
      ['fractional days', 'role/supervisor', { days: 1.5 }],
      ['days as a string', 'role/supervisor', { days: '10' }],
      ['no days', 'role/supervisor', { action: 'delete' }],
      ['an unknown action', 'role/supervisor', { days: 10, action: 'archive' }],
      ['an unknown field', 'role/supervisor', { days: 10, scope: 'agent' }],
      ['a malformed role', 'role/Shift%20Lead', { days: 10 }],
      ['an agent key that is a role name', 'agent/warehouse_operator', { days: 10 }],
    ])('refuses %s with 400', async (_case, path, body) => {
      const response = await t.http().put(`${RETENTION}/policies/${path}`).set(admin()).send(body).expect(400);
      expect(response.body.code).toBe('VALIDATION_FAILED');
    });

    it('refuses a malformed preview limit with 400', async () => {
      for (const limit of ['-1', '101', 'ten', '1e1']) await t.http().get(`${RETENTION}/preview`).query({ limit }).set(admin()).expect(400);
      await t.http().get(`${RETENTION}/preview`).query({ limit: '0' }).set(admin()).expect(200);
    });
  });

  it('refuses every retention route to non-admins with 403', async () => {
    const routes: [string, string, object?][] = [
      ['get', `${RETENTION}/policies`],
      ['put', `${RETENTION}/policies/role/supervisor`, { days: 10 }],
      ['put', `${RETENTION}/policies/agent/picking-assistant`, { days: 10 }],
      ['delete', `${RETENTION}/policies/role/supervisor`],
      ['delete', `${RETENTION}/policies/agent/picking-assistant`],
      ['get', `${RETENTION}/preview`],
      ['post', `${RETENTION}/run`],
    ];
    for (const [method, path, body] of routes) {
      const request = (t.http() as unknown as Record<string, (path: string) => Test>)[method]!(path).set(
        t.auth('picker', ['warehouse_operator', 'supervisor']),
      );
      const response = await (body ? request.send(body) : request).expect(403);
      expect([path, response.body.code]).toEqual([path, 'FORBIDDEN']);
    }
    expect((await t.http().get(`${RETENTION}/policies`).set(admin()).expect(200)).body.overrides).toEqual([]);
  });
});

describe('Retention switched off (ENABLE_DATA_RETENTION=false)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ ENABLE_DATA_RETENTION: 'false', CHAT_RETENTION_DAYS: '30' });
  });
  afterAll(() => t.close());

  it('applies no period policy and records that it is disabled, but still purges what was deleted for good', async () => {
    const seed = new Seeder(t);
    const old = await seed.conversation('idle-picker', ['warehouse_operator']);
    await seed.age(old, 400);
    const deletedForGood = await seed.conversation('idle-picker', ['warehouse_operator']);
    await seed.deletePermanently('idle-picker', ['warehouse_operator'], deletedForGood, 120);

    const view = (
      await t
        .http()
        .get(`${RETENTION}/preview`)
        .set(t.auth('boss', ['admin']))
        .expect(200)
    ).body as Preview;
    expect(view.enabled).toBe(false);
    expect(view.totals).toMatchObject({ conversations: 2, counts: { chat_conversations: 2, chat_messages: 4 } });

    const run = await t
      .http()
      .post(`${RETENTION}/run`)
      .set(t.auth('boss', ['admin']))
      .expect(200);
    expect(run.body).toMatchObject({
      status: 'succeeded',
      counts: { disabled: 1, conversations: 1, 'purged:chat_conversations': 1, 'purged:chat_messages': 2 },
    });
    expect(await storedUnder(t, [old, deletedForGood])).toEqual({
      [old]: { conversation: 1, messages: 2, feedback: 0, attachments: 0 },
      [deletedForGood]: { conversation: 0, messages: 0, feedback: 0, attachments: 0 },
    });
    const receipt = await t.db.collection('chat_audit_log').findOne({ action: 'retention.run', 'target.id': run.body.id });
    expect(receipt).toMatchObject({
      actor: expect.objectContaining({ userId: 'boss' }),
      details: { disabled: true, outcome: 'succeeded', totals: { conversations: 1 } },
    });
    expect(receipt!.details.policies).toEqual([expect.objectContaining({ policy: 'permanently-deleted', conversations: 1 })]);
    expect(
      (
        await t
          .http()
          .get(`${RETENTION}/policies`)
          .set(t.auth('boss', ['admin']))
          .expect(200)
      ).body.enabled,
    ).toBe(false);
  });
});

describe('Retention policies that anonymise (CHAT_ANONYMIZATION_ENABLED=true)', () => {
  let t: TestApp;
  const admin = () => t.auth('privacy-admin', ['admin']);
  beforeAll(async () => {
    t = await startTestApp({ CHAT_ANONYMIZATION_ENABLED: 'true', CHAT_RETENTION_DAYS: '30' });
  });
  afterAll(() => t.close());

  it('gives expired conversations to a pseudonym with personal data masked, once, and keeps their counts', async () => {
    const seed = new Seeder(t);
    const supervisor = ['supervisor'];
    const expired = await seed.conversation('sup-anon', supervisor);
    const recent = await seed.conversation('sup-anon', supervisor);
    const turn = await t
      .http()
      .post(`${API}/conversations/${expired}/messages`)
      .set(t.auth('sup-anon', supervisor))
      .send({ content: 'Call me at jane.doe@example.com about dock 4', reply: false })
      .expect(201);
    await Promise.all([seed.age(expired, 60), seed.age(recent, 10)]);
    await t.http().put(`${RETENTION}/policies/role/supervisor`).set(admin()).send({ days: 30, action: 'anonymise' }).expect(200);
    // A hold on the conversation, released before: once anonymised, it must not lead from the owner to the conversation.
    const hold = (
      await t
        .http()
        .post(`${API}/admin/legal-holds`)
        .set(admin())
        .send({ target: 'conversation', targetId: expired, reason: 'Inventory dispute 7' })
        .expect(201)
    ).body as { id: string };
    await t.http().post(`${API}/admin/legal-holds/${hold.id}/release`).set(admin()).send({ reason: 'Settled' }).expect(200);

    const view = (await t.http().get(`${RETENTION}/preview`).set(admin()).expect(200)).body as Preview;
    expect(view.policies.find((each) => each.policy === 'role')).toMatchObject({
      action: 'anonymise',
      conversations: 1,
      suspended: null,
      sampleConversationIds: [expired],
    });

    const run = await t.http().post(`${RETENTION}/run`).set(admin()).expect(200);
    expect(run.body.counts).toMatchObject({ conversations: 1, 'anonymised:chat_conversations': 1, 'anonymised:chat_messages': 3 });
    const conversation = await t.db.collection('chat_conversations').findOne({ _id: new ObjectId(expired) });
    expect(conversation).toMatchObject({ userId: expect.stringMatching(/^anon_[0-9a-f]{24}$/), messageCount: 3 });
    const messages = await t.db
      .collection('chat_messages')
      .find({ conversationId: new ObjectId(expired) })
      .toArray();
    expect(messages).toHaveLength(3);
    expect(messages.every((message) => message.userId === conversation!.userId)).toBe(true);
    const masked = messages.find((message) => message._id.equals(new ObjectId(turn.body.userMessage.id as string)))!;
    expect(masked.content).toBe('Call me at [email] about dock 4');
    expect(await t.db.collection('chat_conversations').findOne({ _id: new ObjectId(recent) })).toMatchObject({ userId: 'sup-anon' });
    const released = await t.db.collection('chat_legal_holds').findOne({ _id: new ObjectId(hold.id) });
    expect(JSON.stringify(released)).not.toContain(expired);
    expect(JSON.stringify(released)).not.toContain('sup-anon');

    // A pseudonym is never anonymised again, nor even read again by the pass.
    const service = t.app.get(ConversationsService);
    const select = service.findForRetention.bind(service);
    const owners: string[] = [];
    const selection = jest.spyOn(service, 'findForRetention').mockImplementation(async (query) => {
      const found = await select(query);
      owners.push(...found.map((candidate) => candidate.userId));
      return found;
    });
    let again;
    try {
      again = await t.http().post(`${RETENTION}/run`).set(admin()).expect(200);
    } finally {
      selection.mockRestore();
    }
    expect(again.body.counts).toMatchObject({ conversations: 0 });
    expect(owners).toEqual([]);
    expect(await t.db.collection('chat_conversations').findOne({ _id: new ObjectId(expired) })).toMatchObject({
      userId: conversation!.userId,
    });
  });

  it('suspends an anonymise policy, keeping its conversations, on an instance where anonymisation is off', async () => {
    await t.http().put(`${RETENTION}/policies/agent/inventory-assistant`).set(admin()).send({ days: 5, action: 'anonymise' }).expect(200);
    const seed = new Seeder(t);
    const kept = await seed.conversation('inv-anon', ['inventory_manager']);
    await seed.age(kept, 60);
    const off = await startTestApp({ CHAT_ANONYMIZATION_ENABLED: 'false' }, { dbName: t.db.databaseName });
    try {
      const view = (await off.http().get(`${RETENTION}/preview`).set(admin()).expect(200)).body as Preview;
      expect(view.policies.find((each) => each.policy === 'agent')).toMatchObject({
        key: 'inventory-assistant',
        conversations: 0,
        suspended: expect.stringContaining('CHAT_ANONYMIZATION_ENABLED'),
      });
      const run = await off.app.get(JobScheduler).runNow(RETENTION_JOB);
      expect(run.status).toBe('succeeded');
      expect(await storedUnder(off, [kept])).toEqual({ [kept]: { conversation: 1, messages: 2, feedback: 0, attachments: 0 } });
      expect(await off.db.collection('chat_conversations').findOne({ _id: new ObjectId(kept) })).toMatchObject({ userId: 'inv-anon' });
    } finally {
      await off.app.close();
    }
  });
});
