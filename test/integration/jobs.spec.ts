import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { LEASES_COLLECTION, Leases, newInstanceId } from '../../src/common/jobs/lease.js';
import type { JobContext, JobRunResult } from '../../src/jobs/job.js';
import { JobScheduler } from '../../src/jobs/job-scheduler.service.js';
import { CONVERSATION_COUNTS_JOB } from '../../src/messages/conversation-counts.job.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));
/** Never fires during a test: jobs with it run through runNow only. */
const NEVER = '0 0 1 1 *';

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('leases', () => {
  let client: mongoose.mongo.MongoClient;
  let db: mongoose.mongo.Db;

  beforeAll(async () => {
    client = await new mongoose.mongo.MongoClient(process.env.TEST_MONGODB_URI!).connect();
    db = client.db(`leases_${randomBytes(5).toString('hex')}`);
  });
  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  it('goes to one contender; renewing, holding and releasing work only for the holder; an expired lease is taken over', async () => {
    const a = new Leases(db, 'instance-a');
    const b = new Leases(db, 'instance-b');
    const [first, second] = await Promise.all([a.tryAcquire('job:x', 300), b.tryAcquire('job:x', 300)]);
    expect([first, second].filter(Boolean)).toHaveLength(1);
    const held = (first ?? second)!;
    const other = held.owner === 'instance-a' ? b : a;
    expect(await other.tryAcquire('job:x', 300)).toBeNull();

    expect(await held.renew()).toBe(true);
    await sleep(400);
    const taken = (await other.tryAcquire('job:x', 60_000))!;
    expect(taken.owner).toBe(other.owner);
    // The old holder finds out at its next renewal, and cannot release the new holder's lease.
    expect(await held.renew()).toBe(false);
    await held.release();
    expect(await other.holder('job:x')).toMatchObject({ owner: other.owner });

    // A cooldown: kept unused; others skip it, its owner may take it again when asked to.
    await taken.holdUntil(new Date(Date.now() + 60_000));
    expect(await new Leases(db, 'instance-c').tryAcquire('job:x', 1000)).toBeNull();
    expect(await other.tryAcquire('job:x', 1000)).toBeNull();
    expect(await other.tryAcquire('job:x', 1000, { reclaimOwn: true })).not.toBeNull();
    await taken.release();
    expect(await db.collection(LEASES_COLLECTION).countDocuments({ _id: 'job:x' as never })).toBe(0);
  });

  it('takes over at once a lease left by a dead process of this machine, never one of a live process or another machine', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const hold = (owner: string) => new Leases(db, owner).tryAcquire('job:crashed', 60_000);
    // This machine and pid namespace, as lease owners name them.
    const machine = newInstanceId().replace(/:\d+:[^:]+$/, '');
    const contender = new Leases(db, `${machine}:${process.pid}:contender`);

    await hold(`${machine}:${dead}:deadbeef`);
    expect(await contender.tryAcquire('job:crashed', 60_000)).not.toBeNull();
    await db.collection(LEASES_COLLECTION).deleteMany({});

    const alive = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30_000)']);
    try {
      await hold(`${machine}:${alive.pid}:cafebabe`);
      expect(await contender.tryAcquire('job:crashed', 60_000)).toBeNull();
    } finally {
      alive.kill();
    }
    await db.collection(LEASES_COLLECTION).deleteMany({});

    await hold(`another-host:${dead}:deadbeef`);
    expect(await contender.tryAcquire('job:crashed', 60_000)).toBeNull();
    await db.collection(LEASES_COLLECTION).deleteMany({});
  });

  it('waits for a lease and then names its holder', async () => {
    await new Leases(db, 'busy-host:7').tryAcquire('migrations', 60_000);
    await expect(new Leases(db).acquire('migrations', 1000, 300, 50)).rejects.toThrow(/Lease migrations is held by busy-host:7 until/);
  });
});

describe('job scheduler', () => {
  describe('one instance', () => {
    let t: TestApp;
    let scheduler: JobScheduler;
    const runs = () => t.db.collection('chat_job_runs');

    beforeAll(async () => {
      t = await startTestApp();
      scheduler = t.app.get(JobScheduler);
    });
    afterAll(() => t.close());

    it('runs the count repair once at boot, without holding up the boot', async () => {
      expect(scheduler.registeredJobs()).toContain(CONVERSATION_COUNTS_JOB);
      const boot = await until('the boot run', () =>
        runs().findOne({ job: CONVERSATION_COUNTS_JOB, trigger: 'boot', status: 'succeeded' }),
      );
      expect(boot).toMatchObject({ instance: scheduler.instance, counts: { checked: 0, repaired: 0, deferred: 0 } });
    });

    it('records a failed run with its error, and gives the lease back', async () => {
      let attempts = 0;
      scheduler.register({
        name: 'failing-probe',
        cron: NEVER,
        run: () => {
          attempts += 1;
          return Promise.reject(new Error(`broken on attempt ${attempts}`));
        },
      });
      const first = await scheduler.runNow('failing-probe');
      const second = await scheduler.runNow('failing-probe');
      expect([first.status, second.status]).toEqual(['failed', 'failed']);
      expect(second.error).toBe('broken on attempt 2');
      const stored = await runs().find({ job: 'failing-probe' }).sort({ startedAt: 1 }).toArray();
      expect(stored.map((run) => [run.status, run.error])).toEqual([
        ['failed', 'broken on attempt 1'],
        ['failed', 'broken on attempt 2'],
      ]);
      expect(stored[0]!.finishedAt).toBeInstanceOf(Date);
      expect(await t.db.collection(LEASES_COLLECTION).findOne({ _id: 'job:failing-probe' as never })).toBeNull();
    });

    it('hands each run the previous successful run and its checkpoint, and stores progress with counts', async () => {
      const seen: (Date | null)[] = [];
      let fail = false;
      scheduler.register({
        name: 'checkpoint-probe',
        cron: NEVER,
        run: async (context: JobContext) => {
          seen.push(context.previous?.checkpoint ?? null);
          await context.progress('half way', { items: 1 });
          if (fail) throw new Error('nope');
          context.setCheckpoint(new Date(1000 * (seen.length + 1)));
          return { items: 2 };
        },
      });
      const first = await scheduler.runNow('checkpoint-probe');
      expect(first).toMatchObject({ status: 'succeeded', counts: { items: 2 }, checkpoint: new Date(2000) });
      fail = true;
      const failed = await scheduler.runNow('checkpoint-probe');
      expect(await runs().findOne({ _id: new mongoose.Types.ObjectId(failed.id) })).toMatchObject({
        status: 'failed',
        progress: 'half way',
        counts: { items: 1 },
        checkpoint: null,
      });
      fail = false;
      await scheduler.runNow('checkpoint-probe');
      // The failed run's checkpoint does not count: the third run starts from the first one's.
      expect(seen).toEqual([null, new Date(2000), new Date(2000)]);
    });

    it('never overlaps runs of a job on one instance: a request during a run waits for it, a tick is skipped', async () => {
      let active = 0;
      let most = 0;
      scheduler.register({
        name: 'overlap-probe',
        cron: '*/1 * * * * *',
        run: async () => {
          active += 1;
          most = Math.max(most, active);
          await sleep(1500);
          active -= 1;
          return { ran: 1 };
        },
      });
      const asked = await Promise.all([scheduler.runNow('overlap-probe'), scheduler.runNow('overlap-probe')]);
      await sleep(1500);
      expect(most).toBe(1);
      expect(asked.some((run) => run.status === 'succeeded')).toBe(true);
      // Each run took longer than the second between ticks, so ticks found a run in flight.
      const stored = await runs()
        .find({ job: 'overlap-probe', finishedAt: { $ne: null } })
        .sort({ startedAt: 1 })
        .toArray();
      expect(stored.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < stored.length; i += 1) {
        expect(stored[i]!.startedAt.getTime()).toBeGreaterThanOrEqual(stored[i - 1]!.finishedAt.getTime());
      }
    });
  });

  describe('two instances on one database', () => {
    let a: TestApp;
    let b: TestApp;
    let schedulers: [JobScheduler, JobScheduler];
    const runs = () => a.db.collection('chat_job_runs');

    beforeAll(async () => {
      const dbName = `test_jobs_${randomBytes(5).toString('hex')}`;
      // Every second, so the test can watch the schedule fire on both instances.
      const env = { CHAT_COUNT_REPAIR_CRON: '*/1 * * * * *' };
      [a, b] = await Promise.all([startTestApp(env, { dbName }), startTestApp(env, { dbName })]);
      schedulers = [a.app.get(JobScheduler), b.app.get(JobScheduler)];
    });
    afterAll(async () => {
      await b.app.close();
      await a.close();
    });

    it('runs a job asked for on both at once exactly once; the other answers skipped, naming the holder', async () => {
      for (const scheduler of schedulers) {
        scheduler.register({
          name: 'lease-probe',
          cron: NEVER,
          run: async () => {
            await sleep(500);
            return { ran: 1 };
          },
        });
      }
      const results = await Promise.all(schedulers.map((scheduler) => scheduler.runNow('lease-probe')));
      const ran = results.find((run) => run.status === 'succeeded')!;
      const skipped = results.find((run) => run.status === 'skipped')!;
      expect(ran).toBeDefined();
      expect(skipped).toBeDefined();
      expect(skipped.reason).toMatch(new RegExp(`^lease held by ${escape(ran.instance)} until `));
      expect(skipped.id).toBeUndefined();
      expect(await runs().find({ job: 'lease-probe' }).toArray()).toEqual([
        expect.objectContaining({ instance: ran.instance, status: 'succeeded', counts: { ran: 1 } }),
      ]);
      // Once the run is over, the other instance runs it when asked.
      const loser = schedulers.find((scheduler) => scheduler.instance === skipped.instance)!;
      expect((await loser.runNow('lease-probe')).status).toBe('succeeded');
    });

    it('keeps the lease while a long run reports progress, and fails a run that lost its lease at its next progress', async () => {
      const [first, second] = schedulers;
      const release: (() => void)[] = [];
      for (const scheduler of schedulers) {
        scheduler.register({
          name: 'renew-probe',
          cron: NEVER,
          leaseTtlMs: 400,
          run: async (context) => {
            if (scheduler === first) {
              // Progress every 150 ms for 1.2 s: the 400 ms lease never runs out.
              for (let step = 1; step <= 8; step += 1) {
                await sleep(150);
                await context.progress(`step ${step}`, { step });
              }
            }
            return { done: 1 };
          },
        });
        scheduler.register({
          name: 'silent-probe',
          cron: NEVER,
          leaseTtlMs: 300,
          run: async (context) => {
            if (scheduler === first) {
              // No progress for longer than the lease: another instance may take the job over meanwhile.
              await new Promise<void>((wake) => release.push(wake));
              await context.progress('back');
            }
            return { done: 1 };
          },
        });
      }
      const long = first.runNow('renew-probe');
      await sleep(700);
      expect(await second.runNow('renew-probe')).toMatchObject({ status: 'skipped' });
      expect(await long).toMatchObject({ status: 'succeeded', counts: { done: 1 } });

      const silent = first.runNow('silent-probe');
      await sleep(600);
      expect(await second.runNow('silent-probe')).toMatchObject({ status: 'succeeded' });
      release.forEach((wake) => wake());
      expect(await silent).toMatchObject({ status: 'failed', error: expect.stringMatching(/^Lost the lease of silent-probe/) });
    });

    it('keeps the lease after a scheduled run until halfway to the next tick, so a late timer on another instance skips that tick', async () => {
      const [first, second] = schedulers;
      // Every 4 s on the first instance; the second only runs it when asked, standing in for a timer that fires late.
      first.register({ name: 'cooldown-probe', cron: '*/4 * * * * *', run: () => Promise.resolve({ ran: 1 }) });
      second.register({ name: 'cooldown-probe', cron: NEVER, run: () => Promise.resolve({ ran: 1 }) });
      const ticked = await until('a scheduled run', () =>
        runs().findOne({ job: 'cooldown-probe', trigger: 'schedule', status: 'succeeded' }),
      );
      // The run is recorded just before the lease is set aside.
      const lease = await until(
        'the lease kept for the cooldown',
        async () => {
          const found = await a.db.collection(LEASES_COLLECTION).findOne({ _id: 'job:cooldown-probe' as never });
          return found && found.expiresAt.getTime() < Date.now() + 10_000 && found;
        },
        3000,
      );
      const tick = Math.floor(ticked.startedAt.getTime() / 4000) * 4000;
      expect(lease).toMatchObject({ owner: first.instance, expiresAt: new Date(tick + 2000) });
      if (Date.now() < tick + 1900) {
        expect(await second.runNow('cooldown-probe')).toMatchObject({ status: 'skipped' });
      }
      await sleep(Math.max(0, tick + 2100 - Date.now()));
      expect(await second.runNow('cooldown-probe')).toMatchObject({ status: 'succeeded', instance: second.instance });
    });

    it('fires on its cron expression, each tick once across the instances', async () => {
      const since = new Date();
      const scheduled = await until(
        'three scheduled runs',
        async () => {
          const found = await runs()
            .find({ job: CONVERSATION_COUNTS_JOB, trigger: 'schedule', startedAt: { $gte: since } })
            .toArray();
          return found.length >= 3 && found;
        },
        15_000,
      );
      expect(scheduled.every((run) => run.status === 'succeeded' || run.status === 'running')).toBe(true);
      const ticks = scheduled.map((run) => Math.floor(run.startedAt.getTime() / 1000));
      expect(new Set(ticks).size).toBe(ticks.length);
    });
  });

  it('stops on shutdown: an in-flight run is aborted through its signal and recorded as failed', async () => {
    const dbName = `test_jobs_stop_${randomBytes(5).toString('hex')}`;
    const t = await startTestApp({}, { dbName });
    const scheduler = t.app.get(JobScheduler);
    let started = false;
    scheduler.register({
      name: 'endless-probe',
      cron: NEVER,
      run: (context) =>
        new Promise((_, reject) => {
          started = true;
          context.signal.addEventListener('abort', () => reject(context.signal.reason as Error));
        }),
    });
    const running: Promise<JobRunResult> = scheduler.runNow('endless-probe');
    await until('the run to start', () => Promise.resolve(started));
    const closing = Date.now();
    await t.app.close();
    expect(Date.now() - closing).toBeLessThan(5000);
    expect(await running).toMatchObject({ status: 'failed', error: expect.stringMatching(/^Aborted: the instance is shutting down/) });
    expect(await scheduler.runNow('endless-probe')).toMatchObject({ status: 'skipped', reason: 'the instance is shutting down' });

    const client = await new mongoose.mongo.MongoClient(process.env.TEST_MONGODB_URI!).connect();
    try {
      expect(await client.db(dbName).collection('chat_job_runs').findOne({ job: 'endless-probe' })).toMatchObject({ status: 'failed' });
      await client.db(dbName).dropDatabase();
    } finally {
      await client.close();
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
