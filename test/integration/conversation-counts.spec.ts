import { jest } from '@jest/globals';
import mongoose from 'mongoose';
import { ConversationsService } from '../../src/conversations/conversations.service.js';
import { JobScheduler } from '../../src/jobs/job-scheduler.service.js';
import { CONVERSATION_COUNTS_JOB } from '../../src/messages/conversation-counts.job.js';
import { MessagesRepository } from '../../src/messages/messages.repository.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const { ObjectId } = mongoose.Types;
const GRACE_SECONDS = 2;

// The count repair job against the real app and store: crash states are written straight into the
// database, as a process killed between a message's slot reservation and its insert leaves them.
describe('conversation count repair', () => {
  let t: TestApp;
  let scheduler: JobScheduler;

  beforeAll(async () => {
    t = await startTestApp({ CHAT_COUNT_REPAIR_GRACE_SECONDS: String(GRACE_SECONDS) });
    scheduler = t.app.get(JobScheduler);
    // Waits for the boot run (runNow waits for a run in flight here), then one run from a known state.
    await scheduler.runNow(CONVERSATION_COUNTS_JOB);
  });
  afterAll(() => t.close());
  afterEach(() => jest.restoreAllMocks());

  const conversations = () => t.db.collection('chat_conversations');
  const messages = () => t.db.collection('chat_messages');
  const ago = (ms: number) => new Date(Date.now() - ms);
  const run = () => scheduler.runNow(CONVERSATION_COUNTS_JOB);
  const pastGrace = () => new Promise((wake) => setTimeout(wake, GRACE_SECONDS * 1000 + 300));

  async function newConversation(user: string): Promise<string> {
    return (await t.http().post('/api/v1/chat/conversations').set(t.auth(user)).send({}).expect(201)).body.id;
  }

  async function send(user: string, id: string, content: string): Promise<{ id: string; seq: number }> {
    const response = await t
      .http()
      .post(`/api/v1/chat/conversations/${id}/messages`)
      .set(t.auth(user))
      .send({ content, reply: false })
      .expect(201);
    return response.body.userMessage;
  }

  async function state(id: string) {
    const conversation = (await conversations().findOne({ _id: new ObjectId(id) }))!;
    const stored = await messages()
      .find({ conversationId: new ObjectId(id) })
      .sort({ seq: 1 })
      .toArray();
    return {
      messageCount: conversation.messageCount as number,
      lastSeq: conversation.lastSeq as number,
      lastMessageAt: conversation.lastMessageAt as Date | null,
      stored: stored.length,
      maxSeq: stored.length > 0 ? (stored[stored.length - 1]!.seq as number) : 0,
      latest: stored.length > 0 ? new Date(Math.max(...stored.map((message) => (message.timestamp as Date).getTime()))) : null,
    };
  }

  /** A crash after the slots were taken and before the messages were inserted (the reservation's own update, back in time). */
  async function reserveWithoutInsert(id: string, slots: number, at: Date): Promise<void> {
    await conversations().updateOne(
      { _id: new ObjectId(id) },
      { $inc: { messageCount: slots, lastSeq: slots }, $max: { lastMessageAt: at, lastActivityAt: at }, $set: { updatedAt: at } },
    );
  }

  it('repairs a reservation left without its message, a message whose reservation was given back and a counter behind the stored seq; sends go on in order', async () => {
    const reserved = await newConversation('alice');
    for (const content of ['Short pick at 12-04-B', 'Tote is damaged', 'Which dock?']) await send('alice', reserved, content);
    await reserveWithoutInsert(reserved, 2, ago(10_000));
    // The reservation also moved lastMessageAt to its own time, later than any stored message.
    await conversations().updateOne({ _id: new ObjectId(reserved) }, { $set: { lastMessageAt: new Date(Date.now() + 60_000) } });

    // An insert reported failed that had landed: its slot was given back, and the counter is behind the stored seq.
    const released = await newConversation('alice');
    await send('alice', released, 'Forklift battery low');
    const second = await send('alice', released, 'Where is charging?');
    await messages().insertOne({
      conversationId: new ObjectId(released),
      userId: 'alice',
      type: 'user',
      content: 'landed after all',
      metadata: {},
      seq: second.seq + 1,
      tokens: 3,
      timestamp: ago(10_000),
      createdAt: ago(10_000),
      updatedAt: ago(10_000),
    });
    await conversations().updateOne({ _id: new ObjectId(released) }, { $set: { updatedAt: ago(10_000) } });

    // The count right, the counter behind the stored seq: the next send would take a seq that is in use.
    const behind = await newConversation('alice');
    await send('alice', behind, 'Label printer jammed');
    await send('alice', behind, 'Reloaded it');
    await conversations().updateOne({ _id: new ObjectId(behind) }, { $set: { lastSeq: 1, updatedAt: ago(10_000) } });

    expect(await state(reserved)).toMatchObject({ messageCount: 5, lastSeq: 5, stored: 3, maxSeq: 3 });
    expect(await state(released)).toMatchObject({ messageCount: 2, lastSeq: 2, stored: 3, maxSeq: 3 });

    const result = await run();
    expect(result).toMatchObject({ status: 'succeeded', counts: { repaired: 3, deferred: 0 } });
    expect(result.counts.checked).toBeGreaterThanOrEqual(3);

    const afterReserved = await state(reserved);
    // The count is what is stored; lastSeq keeps the numbers already handed out (a seq is never reused).
    expect(afterReserved).toMatchObject({ messageCount: 3, stored: 3, lastSeq: 5 });
    expect(afterReserved.lastMessageAt).toEqual(afterReserved.latest);
    expect(await state(released)).toMatchObject({ messageCount: 3, stored: 3, lastSeq: 3, maxSeq: 3 });
    expect(await state(behind)).toMatchObject({ messageCount: 2, stored: 2, lastSeq: 2 });

    // The next sends get the next free seq and the counts stay exact.
    expect((await send('alice', reserved, 'Dock 4')).seq).toBe(6);
    expect((await send('alice', released, 'Thanks')).seq).toBe(4);
    expect((await send('alice', behind, 'Printing again')).seq).toBe(3);
    for (const id of [reserved, released, behind]) {
      const shown = await t.http().get(`/api/v1/chat/conversations/${id}`).set(t.auth('alice')).expect(200);
      expect(shown.body.messageCount).toBe((await state(id)).stored);
    }
    expect(await run()).toMatchObject({ status: 'succeeded', counts: { repaired: 0 } });
  });

  it('leaves a conversation changed within the grace period alone, and repairs it once the grace has passed', async () => {
    const id = await newConversation('bob');
    await send('bob', id, 'Cycle count for aisle 7');
    // A reservation right now: its message may still be on its way on some instance.
    await reserveWithoutInsert(id, 1, new Date());

    await run();
    expect(await state(id)).toMatchObject({ messageCount: 2, stored: 1 });

    await pastGrace();
    expect(await run()).toMatchObject({ status: 'succeeded', counts: { repaired: 1 } });
    expect(await state(id)).toMatchObject({ messageCount: 1, stored: 1 });
  });

  it('never loses a send that lands while the repair looks at the conversation: the repair misses and comes back', async () => {
    const id = await newConversation('carol');
    await send('carol', id, 'Replenishment for A-12');
    await send('carol', id, 'How many cases?');
    await reserveWithoutInsert(id, 1, ago(10_000));

    const repository = t.app.get(MessagesRepository);
    const conversationCounts = repository.conversationCounts.bind(repository);
    let sentDuringRepair = false;
    jest.spyOn(repository, 'conversationCounts').mockImplementation(async (conversationId) => {
      const counted = await conversationCounts(conversationId);
      if (conversationId.toHexString() === id && !sentDuringRepair) {
        sentDuringRepair = true;
        // Between the repair's read of the conversation and its update.
        await send('carol', id, 'Sent while the repair was counting');
      }
      return counted;
    });
    const first = await run();
    jest.restoreAllMocks();
    expect(sentDuringRepair).toBe(true);
    expect(first).toMatchObject({ status: 'succeeded', counts: { repaired: 0, deferred: 1 } });
    // Still one too high (the crashed slot), but the concurrent send is counted.
    expect(await state(id)).toMatchObject({ messageCount: 4, stored: 3, lastSeq: 4, maxSeq: 4 });

    await pastGrace();
    expect(await run()).toMatchObject({ status: 'succeeded', counts: { repaired: 1, deferred: 0 } });
    expect(await state(id)).toMatchObject({ messageCount: 3, stored: 3, lastSeq: 4 });
  });

  it('cannot combine with a message delete into a wrong count: the delete stamps the conversation before removing', async () => {
    const id = await newConversation('dave');
    const first = await send('dave', id, 'Pallet 3 is leaning');
    await send('dave', id, 'Restack it?');
    await send('dave', id, 'Done');
    // Settled long ago: the repair would look at it.
    await conversations().updateOne({ _id: new ObjectId(id) }, { $set: { updatedAt: ago(10_000) } });

    // The repair runs after the message is gone and before its slot is given back.
    const service = t.app.get(ConversationsService);
    const release = service.releaseMessageSlots.bind(service);
    let during: Awaited<ReturnType<typeof run>> | undefined;
    jest.spyOn(service, 'releaseMessageSlots').mockImplementation(async (...args) => {
      during = await run();
      return release(...args);
    });
    await t.http().delete(`/api/v1/chat/conversations/${id}/messages/${first.id}`).set(t.auth('dave')).expect(204);
    jest.restoreAllMocks();

    expect(during).toMatchObject({ status: 'succeeded', counts: { repaired: 0 } });
    expect(await state(id)).toMatchObject({ messageCount: 2, stored: 2, lastSeq: 3 });
    await pastGrace();
    expect(await run()).toMatchObject({ status: 'succeeded', counts: { repaired: 0 } });
    expect(await state(id)).toMatchObject({ messageCount: 2, stored: 2 });
  });

  it('records each run with its counts and window end, and a failed run with its error', async () => {
    const ok = await run();
    expect(ok.id).toBeDefined();
    const stored = await t.db.collection('chat_job_runs').findOne({ _id: new ObjectId(ok.id) });
    expect(stored).toMatchObject({
      job: CONVERSATION_COUNTS_JOB,
      instance: scheduler.instance,
      trigger: 'manual',
      status: 'succeeded',
      counts: { checked: ok.counts.checked, repaired: 0, deferred: 0 },
      error: null,
    });
    expect(stored!.finishedAt.getTime()).toBeGreaterThanOrEqual(stored!.startedAt.getTime());
    // The checkpoint is the end of the window covered: the time the run began looking, minus the grace.
    const lag = stored!.startedAt.getTime() - stored!.checkpoint.getTime();
    expect(lag).toBeLessThanOrEqual(GRACE_SECONDS * 1000);
    expect(lag).toBeGreaterThan(GRACE_SECONDS * 1000 - 1000);

    jest.spyOn(t.app.get(ConversationsService), 'countsChangedBetween').mockRejectedValue(new Error('store went away'));
    const failed = await run();
    jest.restoreAllMocks();
    expect(failed).toMatchObject({ status: 'failed', error: 'store went away' });
    expect(await t.db.collection('chat_job_runs').findOne({ _id: new ObjectId(failed.id) })).toMatchObject({
      status: 'failed',
      error: 'store went away',
      checkpoint: null,
    });
    // The lease was given back: the next run goes ahead.
    expect((await run()).status).toBe('succeeded');
  });

  it('covers every conversation on its first run ever, in batches with progress, and only recent changes afterwards', async () => {
    const longAgo = Date.now() - 365 * 24 * 3600_000;
    const docs = Array.from({ length: 450 }, (_, i) => ({
      _id: new ObjectId(),
      userId: 'archive',
      title: null,
      role: 'warehouse_operator',
      agentKey: null,
      summary: null,
      status: i % 2 === 0 ? 'archived' : 'active',
      metadata: {},
      lastMessageAt: null,
      lastActivityAt: new Date(longAgo),
      // Every 50th holds a slot without a message; several share an updatedAt, which the batches must not trip over.
      messageCount: i % 50 === 0 ? 1 : 0,
      lastSeq: i % 50 === 0 ? 1 : 0,
      archivedAt: null,
      deletedAt: null,
      createdAt: new Date(longAgo),
      updatedAt: new Date(longAgo + Math.floor(i / 3)),
    }));
    await conversations().insertMany(docs);
    const total = await conversations().countDocuments({ updatedAt: { $lte: ago(GRACE_SECONDS * 1000) } });

    // As good as a first run ever: no successful run to start from.
    await t.db.collection('chat_job_runs').deleteMany({ job: CONVERSATION_COUNTS_JOB });
    const first = await run();
    expect(first).toMatchObject({ status: 'succeeded', counts: { checked: total, repaired: 9 } });
    const record = await t.db.collection('chat_job_runs').findOne({ _id: new ObjectId(first.id) });
    expect(record!.progress).toMatch(/^400 conversations checked, \d+ repaired$/);
    expect(await conversations().countDocuments({ userId: 'archive', messageCount: { $ne: 0 } })).toBe(0);

    // Later runs start from the previous window's end (less an overlap), not from the beginning.
    await conversations().updateOne({ _id: docs[1]!._id }, { $set: { messageCount: 7 } });
    const next = await run();
    expect(next.counts.checked).toBeLessThan(total);
    expect((await conversations().findOne({ _id: docs[1]!._id }))!.messageCount).toBe(7);
  });
});
