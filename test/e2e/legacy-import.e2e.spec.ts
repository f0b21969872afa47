import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Leases } from '../../src/common/jobs/lease.js';
import { runCli } from '../support/cli.js';
import { MALFORMED_CASES, writeLegacyDump } from '../support/legacy-dump.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const API = '/api/v1/chat';
const IMPORT_CLI = 'dist/src/legacy-import/legacy-import.cli.js';
const DUMPED_AT = '2025-03-01T12:00:00.000Z';

interface Report {
  dryRun: boolean;
  problems: { path: string; outcome: 'rejected' | 'skipped'; reason: string }[];
  complete: boolean;
  error: string | null;
  shapes: string[];
  counts: Record<string, number>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- API answers, checked field by field
type Body = any;

(existsSync(IMPORT_CLI) ? describe : describe.skip)('npm run import:legacy (the built command; skipped when dist/ is not built)', () => {
  let t: TestApp;
  let directory: string;
  let files = 0;

  beforeAll(async () => {
    t = await startTestApp();
    directory = await mkdtemp(join(tmpdir(), 'legacy-import-'));
  });
  afterAll(async () => {
    await t?.close();
    await rm(directory, { recursive: true, force: true });
  });

  async function dumpFile(content: unknown): Promise<string> {
    const path = join(directory, `dump-${(files += 1)}.json`);
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content, null, 1));
    return path;
  }

  async function importDump(path: string, args: string[] = [], env: Record<string, string> = {}) {
    const report = `${path}.report-${(files += 1)}.json`;
    const run = await runCli(IMPORT_CLI, t.db.databaseName, [path, '--report', report, '--dumped-at', DUMPED_AT, ...args], env);
    const parsed = existsSync(report) ? (JSON.parse(await readFile(report, 'utf8')) as Report) : null;
    return { ...run, report: parsed };
  }

  const get = async (user: string, path: string): Promise<Body> => (await t.http().get(`${API}${path}`).set(t.auth(user)).expect(200)).body;
  const conversationsOf = async (user: string): Promise<Body[]> => (await get(user, '/conversations?limit=100')).items;
  const historyOf = async (user: string, id: string): Promise<Body[]> =>
    (await get(user, `/conversations/${id}/messages?limit=100&order=asc`)).items;

  it('reads every shape and message form, through the same services as live traffic', async () => {
    const path = await dumpFile({
      'shape-a': [
        { role: 'user', content: 'Where is pallet P-100?', timestamp: '2025-01-31 14:05:09.123456' },
        { role: 'bot', content: 'Pallet P-100 is in aisle 4.', timestamp: 1738332310, tokens_used: 42, processing_time: 1.5 },
        { type: 'system', text: 'Shift change.', timestamp: 1738332311000 },
      ],
      'shape-b': [
        {
          conversation_id: 'c-1',
          title: 'Dock questions',
          messages: [{ query: 'Is dock 3 free?', response: 'Dock 3 is free until noon.', timestamp: '2025-02-01T09:00:00+01:00' }],
        },
        { messages: [{ role: 'user', message: 'A conversation without an id', extra: { device: 'scanner-7' } }] },
      ],
      'shape-c': {
        'session-1': [{ sender: 'human', body: 'Count bin B-12 again' }],
        'session-2': { title: 'Replenishment', user_role: 'inventory_manager', messages: [{ role: 'user', content: 'Replenish SKU 555' }] },
      },
    });
    const run = await importDump(path);
    expect(run.stderr).toMatch(/importing .* into /);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^8 messages imported \(5 conversations created\), 0 already present, 0 skipped, 0 records rejected; 7 message records of 5 conversations and 3 users read/,
    );
    expect(run.stdout).toContain('shapes found: messages, conversation-list, conversation-map');
    expect(run.report).toMatchObject({ complete: true, error: null, problems: [], counts: { imported: 8, rejected: 0 } });

    const [running] = await conversationsOf('shape-a');
    expect(running).toMatchObject({
      messageCount: 3,
      role: 'warehouse_operator',
      metadata: { legacy: { conversation: '#running', part: 1 } },
    });
    expect(running.createdAt).toBe('2025-01-31T14:05:09.123Z');
    const history = await historyOf('shape-a', running.id);
    expect(history.map((m: Body) => [m.seq, m.type, m.content, m.timestamp])).toEqual([
      [1, 'user', 'Where is pallet P-100?', '2025-01-31T14:05:09.123Z'],
      [2, 'assistant', 'Pallet P-100 is in aisle 4.', '2025-01-31T14:05:10.000Z'],
      [3, 'system', 'Shift change.', '2025-01-31T14:05:11.000Z'],
    ]);
    expect(history[1]).toMatchObject({ status: 'completed', tokensUsed: { total: 42 }, processingTime: 1500 });

    const listed = await conversationsOf('shape-b');
    const dock = listed.find((c: Body) => c.title === 'Dock questions');
    expect(await historyOf('shape-b', dock.id)).toEqual([
      expect.objectContaining({ type: 'user', content: 'Is dock 3 free?', timestamp: '2025-02-01T08:00:00.000Z' }),
      expect.objectContaining({ type: 'assistant', content: 'Dock 3 is free until noon.' }),
    ]);
    const untitled = listed.find((c: Body) => c.title === null);
    const [undated] = await historyOf('shape-b', untitled.id);
    // No timestamp: dated at the dump's time; fields not mapped are kept.
    expect(undated).toMatchObject({ timestamp: DUMPED_AT, metadata: { legacy: { extra: { device: 'scanner-7' } } } });

    const sessions = await conversationsOf('shape-c');
    expect(sessions.map((c: Body) => [c.title, c.role]).sort()).toEqual([
      [null, 'warehouse_operator'],
      ['Replenishment', 'inventory_manager'],
    ]);
    // Search terms are written as for live messages.
    const found = await get('shape-c', `/messages/search?q=${encodeURIComponent('replenish')}`);
    expect(found.items.map((hit: Body) => hit.conversationTitle)).toEqual(['Replenishment']);
  });

  it('imports nothing again on a re-run; after the dump grew, only what is new, in order', async () => {
    const dump: Record<string, Body> = {
      grower: [
        { role: 'user', content: 'First question', timestamp: '2025-02-10T08:00:00Z' },
        { role: 'assistant', content: 'First answer', timestamp: '2025-02-10T08:00:05Z' },
      ],
    };
    const path = await dumpFile(dump);
    expect((await importDump(path)).code).toBe(0);
    const again = await importDump(path);
    expect(again.code).toBe(0);
    expect(again.report!.counts).toMatchObject({ imported: 0, alreadyPresent: 2, conversationsCreated: 0 });

    dump.grower.push({ role: 'user', content: 'A later question', timestamp: '2025-02-11T08:00:00Z' });
    dump['new-user'] = [{ role: 'user', content: 'Hello from the legacy app' }];
    await writeFile(path, JSON.stringify(dump));
    const grown = await importDump(path);
    expect(grown.code).toBe(0);
    expect(grown.report!.counts).toMatchObject({ imported: 2, alreadyPresent: 2, conversationsCreated: 1 });
    const [conversation] = await conversationsOf('grower');
    expect((await historyOf('grower', conversation.id)).map((m: Body) => [m.seq, m.content])).toEqual([
      [1, 'First question'],
      [2, 'First answer'],
      [3, 'A later question'],
    ]);
    expect(await conversationsOf('new-user')).toHaveLength(1);

    // A record removed from the dump shifts nothing: the others are still known, the new one alone is written.
    dump.grower.splice(0, 1);
    dump.grower.push({ role: 'assistant', content: 'A later answer', timestamp: '2025-02-11T08:00:05Z' });
    await writeFile(path, JSON.stringify(dump));
    const shifted = await importDump(path);
    expect(shifted.report!.counts).toMatchObject({ imported: 1, alreadyPresent: 3 });
    expect((await historyOf('grower', conversation.id)).map((m: Body) => m.content)).toEqual([
      'First question',
      'First answer',
      'A later question',
      'A later answer',
    ]);
  });

  it('writes nothing in a dry run, and says what a real run would do', async () => {
    const path = await dumpFile({
      'dry-user': [
        { role: 'user', content: 'Only checked' },
        { role: 'wizard', content: 'bad role' },
      ],
    });
    const before = await t.db.collection('chat_messages').countDocuments();
    const run = await importDump(path, ['--dry-run']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^dry run, nothing written: 1 messages to import \(1 conversations to create\)/);
    expect(run.report).toMatchObject({ dryRun: true, counts: { imported: 1, rejected: 1 } });
    expect(run.report!.problems).toEqual([
      { path: '$["dry-user"][1]', outcome: 'rejected', reason: expect.stringMatching(/unknown role "wizard"/) },
    ]);
    expect(await t.db.collection('chat_messages').countDocuments()).toBe(before);
    expect(await t.db.collection('chat_conversations').countDocuments({ userId: 'dry-user' })).toBe(0);
  });

  it('reports every malformed record with its JSON path and reason, imports the rest, and exits 1', async () => {
    const path = join(directory, 'malformed.json');
    const stats = await writeLegacyDump(path, { messages: 60, users: 3, userPrefix: 'bad-dump-', malformed: { maxMessageLength: 32000 } });
    const run = await importDump(path);
    expect(run.code).toBe(1);
    const rejected = run.report!.problems.filter((problem) => problem.outcome === 'rejected');
    expect(rejected).toHaveLength(MALFORMED_CASES.length);
    for (const malformed of MALFORMED_CASES) {
      expect([malformed.what, rejected.filter((problem) => malformed.reason.test(problem.reason))]).toEqual([
        malformed.what,
        [expect.anything()],
      ]);
    }
    expect(rejected.map((problem) => problem.path)).toEqual([
      '$["legacy-malformed"][0]',
      '$["legacy-malformed"][1]',
      '$["legacy-malformed"][2]',
      '$["legacy-malformed"][3]',
      '$["legacy-malformed"][4]',
      '$.None',
      '$[""]',
      '$["legacy-number"]',
    ]);
    expect(run.report!.counts).toMatchObject({ imported: stats.messages, rejected: stats.rejected });
    expect(await t.db.collection('chat_messages').countDocuments({ userId: /^bad-dump-|^legacy-malformed$/ })).toBe(stats.messages);
  });

  it('stops at bad JSON: what came before is imported, the report says where, the exit code is 1', async () => {
    const path = join(directory, 'broken.json');
    await writeLegacyDump(path, { messages: 30, users: 3, userPrefix: 'broken-dump-', badJsonAfterUsers: 2 });
    const run = await importDump(path);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/could not be read to its end: invalid JSON at line \d+, column \d+: expected ',' or '}'/);
    expect(run.report).toMatchObject({ complete: false, error: expect.stringMatching(/nothing after it was read$/) });
    expect(run.report!.problems.at(-1)).toMatchObject({ outcome: 'rejected', path: '$["broken-user"][0]' });
    expect(await t.db.collection('chat_conversations').countDocuments({ userId: /^broken-dump-[01]$/ })).toBeGreaterThan(0);
    expect(await t.db.collection('chat_conversations').countDocuments({ userId: 'broken-dump-2' })).toBe(0);
  });

  it('continues a conversation over CHAT_MAX_MESSAGES_PER_CONVERSATION in parts, never cutting it short', async () => {
    const messages = Array.from({ length: 12 }, (_, index) => ({ role: index % 2 ? 'assistant' : 'user', content: `Line ${index + 1}` }));
    const path = await dumpFile({ 'long-talker': [{ conversation_id: 'long', title: 'Night shift', messages }] });
    const env = { CHAT_MAX_MESSAGES_PER_CONVERSATION: '5' };
    const run = await importDump(path, [], env);
    expect(run.code).toBe(0);
    expect(run.report!.counts).toMatchObject({ imported: 12, conversationsCreated: 3 });
    const parts = (await conversationsOf('long-talker')).sort(
      (a: Body, b: Body) => a.createdAt.localeCompare(b.createdAt) || a.title.localeCompare(b.title),
    );
    expect(parts.map((c: Body) => [c.title, c.messageCount])).toEqual([
      ['Night shift', 5],
      ['Night shift (part 2)', 5],
      ['Night shift (part 3)', 2],
    ]);
    const contents = [];
    for (const part of parts) contents.push(...(await historyOf('long-talker', part.id)).map((m: Body) => m.content));
    expect(contents).toEqual(messages.map((m) => m.content));
    expect((await importDump(path, [], env)).report!.counts).toMatchObject({ imported: 0, alreadyPresent: 12 });
  });

  it('never brings back a user erased here', async () => {
    const path = await dumpFile({ 'gone-user': [{ role: 'user', content: 'Please forget me' }] });
    expect((await importDump(path)).code).toBe(0);
    await t
      .http()
      .delete(`${API}/admin/users/gone-user/data`)
      .set(t.auth('root', ['admin']))
      .expect(200);
    const run = await importDump(path);
    expect(run.code).toBe(0);
    expect(run.report!.counts).toMatchObject({ imported: 0, skipped: 1 });
    expect(run.report!.problems).toEqual([
      { path: '$["gone-user"]', outcome: 'skipped', reason: expect.stringMatching(/^the user was erased here/) },
    ]);
    expect(await t.db.collection('chat_messages').countDocuments({ userId: 'gone-user' })).toBe(0);
  });

  it('resumes after being killed mid-way: every record imported exactly once', async () => {
    const path = join(directory, 'large.json');
    const stats = await writeLegacyDump(path, { messages: 6000, users: 30, userPrefix: 'resume-' });
    const report = join(directory, 'killed-report.json');
    const child = spawn(process.execPath, [IMPORT_CLI, path, '--report', report], {
      env: {
        ...process.env,
        MONGODB_URI: process.env.TEST_MONGODB_URI,
        MONGODB_DB_NAME: t.db.databaseName,
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    const users = t.db.collection('chat_messages');
    const deadline = Date.now() + 60_000;
    while ((await users.countDocuments({ userId: /^resume-/ })) < 500 && Date.now() < deadline)
      await new Promise((wake) => setTimeout(wake, 50));
    child.kill('SIGKILL');
    await new Promise((wake) => child.once('exit', wake));
    const before = await users.countDocuments({ userId: /^resume-/ });
    expect(before).toBeGreaterThan(0);
    expect(before).toBeLessThan(stats.messages);

    // The killed run's lease is taken over at once (its process is gone).
    const resumed = await importDump(path);
    expect(resumed.stderr).not.toMatch(/another legacy import is running/);
    expect(resumed.code).toBe(0);
    expect(resumed.report!.counts.alreadyPresent).toBeGreaterThanOrEqual(before - 200);
    expect(await users.countDocuments({ userId: /^resume-/ })).toBe(stats.messages);
    expect(await users.distinct('legacyKey', { userId: /^resume-/ })).toHaveLength(stats.messages);
    // Nothing doubled: as many conversations as the dump has, each legacy one once.
    expect(await t.db.collection('chat_conversations').countDocuments({ userId: /^resume-/ })).toBe(stats.conversations);
  }, 120_000);

  it('runs one import at a time: another holding the lease is named, and nothing is written', async () => {
    const path = await dumpFile({ 'busy-user': [{ role: 'user', content: 'Wait your turn' }] });
    // An import on another machine (never judged dead from here) holds the lease.
    const held = (await new Leases(t.db, 'other-host@1:42:import').tryAcquire('legacy-import', 60_000))!;
    try {
      const run = await importDump(path);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/another legacy import is running \(other-host@1:42:import, until /);
      expect(await t.db.collection('chat_messages').countDocuments({ userId: 'busy-user' })).toBe(0);
      // A dry run writes nothing and needs no lease.
      expect((await importDump(path, ['--dry-run'])).report!.counts).toMatchObject({ imported: 1 });
    } finally {
      await held.release();
    }
    expect((await importDump(path)).report!.counts).toMatchObject({ imported: 1 });
  });

  it('refuses bad arguments and a dump that is not an object of users, with exit code 2 and 1', async () => {
    expect((await runCli(IMPORT_CLI, t.db.databaseName, [])).code).toBe(2);
    expect((await runCli(IMPORT_CLI, t.db.databaseName, [join(directory, 'missing.json')])).code).toBe(2);
    const path = await dumpFile([{ role: 'user', content: 'a list, not an object' }]);
    const run = await importDump(path);
    expect(run.code).toBe(1);
    expect(run.report!.error).toMatch(/must be a JSON object mapping user ids/);
    const role = await importDump(path, ['--role', 'astronaut']);
    expect(role.code).toBe(2);
    expect(role.stderr).toMatch(/the default role "astronaut" has no agent here/);
  }, 60_000);
});

describe('POST /chat/admin/import/legacy (the same import for an admin without a shell on the server)', () => {
  let t: TestApp;
  let directory: string;
  const admin = () => t.auth('root', ['admin']);

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'legacy-upload-'));
    t = await startTestApp({ DATA_DIR: directory, CHAT_LEGACY_IMPORT_MAX_MB: '1' });
  });
  afterAll(async () => {
    await t?.close();
    await rm(directory, { recursive: true, force: true });
  });

  async function finished(id: string): Promise<Body> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const run = (await t.http().get(`${API}/admin/import/legacy/${id}`).set(admin()).expect(200)).body;
      if (run.state === 'succeeded' || run.state === 'failed' || Date.now() > deadline) return run;
      await new Promise((wake) => setTimeout(wake, 100));
    }
  }

  it('stores the upload, imports it in the background, and answers its counts and report', async () => {
    const dump = Buffer.from(
      JSON.stringify({
        'upload-user': {
          s1: {
            title: 'Uploaded',
            messages: [
              { role: 'user', content: 'From the upload' },
              { role: 'robot', content: 'x' },
            ],
          },
        },
      }),
    );
    const started = await t
      .http()
      .post(`${API}/admin/import/legacy?role=supervisor`)
      .set(admin())
      .attach('file', dump, 'chat_backup.json')
      .expect(202);
    expect(started.headers.location).toBe(`/api/v1/chat/admin/import/legacy/${started.body.id}`);
    expect(started.body).toMatchObject({ dryRun: false, defaultRole: 'supervisor', bytes: dump.length });
    const run = await finished(started.body.id);
    expect(run).toMatchObject({
      state: 'succeeded',
      complete: true,
      error: null,
      shapes: ['conversation-map'],
      counts: { imported: 1, rejected: 1, conversationsCreated: 1 },
    });
    const [conversation] = (await t.http().get(`${API}/conversations`).set(t.auth('upload-user')).expect(200)).body.items;
    expect(conversation).toMatchObject({ title: 'Uploaded', role: 'supervisor', messageCount: 1 });
    const report = await t.http().get(`${API}/admin/import/legacy/${started.body.id}/report`).set(admin()).expect(200);
    expect(JSON.parse(report.text)).toMatchObject({
      problems: [{ path: '$["upload-user"].s1.messages[1]', outcome: 'rejected' }],
      counts: { imported: 1 },
    });
    // The dump names people: it is gone once imported.
    expect(existsSync(join(directory, 'legacy-imports', `${started.body.id}.json`))).toBe(false);
    const audit = await t.http().get(`${API}/admin/audit?action=legacy-import.started`).set(admin()).expect(200);
    expect(audit.body.items[0]).toMatchObject({ target: { type: 'legacy-import', id: started.body.id } });
  });

  it('refuses what it cannot import: no file, another field, a role without an agent, too large, not an admin', async () => {
    await t.http().post(`${API}/admin/import/legacy`).set(admin()).field('other', 'x').expect(400);
    await t
      .http()
      .post(`${API}/admin/import/legacy`)
      .set(admin())
      .set('Content-Type', 'multipart/form-data; boundary=x')
      .send('--x--\r\n')
      .expect(400);
    const small = Buffer.from('{}');
    const role = await t.http().post(`${API}/admin/import/legacy?role=astronaut`).set(admin()).attach('file', small, 'd.json').expect(400);
    expect(role.body).toMatchObject({ code: 'VALIDATION_FAILED' });
    await t.http().post(`${API}/admin/import/legacy?role=Not-A-Role`).set(admin()).attach('file', small, 'd.json').expect(400);
    await t
      .http()
      .post(`${API}/admin/import/legacy`)
      .set(admin())
      .attach('file', Buffer.alloc(1024 * 1024 + 1, 32), 'd.json')
      .expect(413);
    await t.http().post(`${API}/admin/import/legacy`).set(t.auth('someone')).attach('file', small, 'd.json').expect(403);
    await t.http().get(`${API}/admin/import/legacy/665f1c2e9b1d8a0012345678`).set(admin()).expect(404);
    // Nothing refused was kept.
    const kept = existsSync(join(directory, 'legacy-imports')) ? await readdir(join(directory, 'legacy-imports')) : [];
    expect(kept.filter((name) => !name.endsWith('.report.json'))).toEqual([]);
  });
});
