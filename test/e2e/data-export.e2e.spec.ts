import { jest } from '@jest/globals';
import AdmZip from 'adm-zip';
import { parse as parseCsv } from 'csv-parse/sync';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import type { Socket } from 'socket.io-client';
import type { Response } from 'supertest';
import type { UserDataProvider } from '../../src/common/user-data/user-data.js';
import { UserDataRegistry } from '../../src/common/user-data/user-data.registry.js';
import { AuditLog } from '../../src/compliance/audit/audit-log.service.js';
import { DataExportWorker } from '../../src/compliance/data-export/data-export.worker.js';
import { DataExportsRepository } from '../../src/compliance/data-export/data-exports.repository.js';
import {
  ARCHIVE_STORE,
  type ArchiveRef,
  type ArchiveStore,
  type StoredArchive,
} from '../../src/compliance/data-export/storage/archive-store.js';
import { JobScheduler } from '../../src/jobs/job-scheduler.service.js';
import { connectSocket, recorder } from '../support/socket.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const API = '/api/v1/chat';
const EXPORTS = 'chat_data_exports';
const FORMULA = '=SUM(A1:A3), "quoted", and a comma';
const QUESTION = 'Pallet 7 at dock 3 is damaged, what now?';
const SECRET = 'Igor secret plan for aisle 12';
/** Every provider the final state registers, each with a records part of this name. */
const PROVIDERS = ['conversations', 'messages', 'attachments', 'feedback', 'preferences', 'data-exports'];
const ADMIN = ['admin'];
const ERASE_CONFIRMATION = 'erase-all-my-data';
const HOUR_MS = 3_600_000;

interface ManifestEntry {
  path: string;
  provider: string | null;
  kind: string;
  format: string;
  records?: number;
  size: number;
  sha256: string;
}

interface Manifest {
  format: string;
  formatVersion: number;
  subjectUserId: string;
  generatedAt: string;
  requestedBy: { userId: string; roles: string[] };
  providers: {
    name: string;
    holdings: { store: string; description: string }[];
    counts: { parts: number; records: number; files: number; bytes: number };
  }[];
  entries: ManifestEntry[];
  totals: { entries: number; records: number; files: number; bytes: number };
}

interface Job {
  id: string;
  status: string;
  subjectUserId: string;
  requestedBy: { userId: string; roles: string[] };
  attempts: number;
  error: string | null;
  archive: { size: number; sha256: string } | null;
  expiresAt: string | null;
}

function binary(res: Response, done: (error: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => done(null, Buffer.concat(chunks)));
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A promise and the function that settles it, to hold a provider or a store at a point of the test's choosing. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** A provider that holds nothing and, for `userId`, waits in `export` or `erase` until the test lets it go. */
function waitingProvider(userId: string, where: 'export' | 'erase', release: Promise<void>): UserDataProvider & { reached: Promise<void> } {
  const reached = gate();
  const wait = async (id: string) => {
    if (id !== userId) return;
    reached.open();
    await release;
  };
  return {
    name: `waits-in-${where}`,
    holdings: [],
    reached: reached.promise,
    inventory: () => Promise.resolve({}),
    // eslint-disable-next-line require-yield -- holds no data: only waits
    export: async function* (id: string) {
      if (where === 'export') await wait(id);
    },
    erase: async (id: string) => {
      if (where === 'erase') await wait(id);
      return {};
    },
    pseudonymise: () => Promise.resolve({}),
  };
}

function jsonLines(zip: AdmZip, path: string): Record<string, unknown>[] {
  const text = zip.readAsText(path);
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The archive's own promises: every listed file is there with its size and SHA-256, and nothing else is. */
function checkedArchive(bytes: Buffer, subject: string, requester: string): { zip: AdmZip; manifest: Manifest } {
  const zip = new AdmZip(bytes);
  const manifest = JSON.parse(zip.readAsText('manifest.json')) as Manifest;
  expect(manifest).toMatchObject({ format: 'wms-chat-data-export', formatVersion: 1, subjectUserId: subject });
  expect(manifest.requestedBy.userId).toBe(requester);
  const names = zip
    .getEntries()
    .map((entry) => entry.entryName)
    .sort();
  expect(names).toEqual([...manifest.entries.map((entry) => entry.path), 'manifest.json'].sort());
  for (const entry of manifest.entries) {
    const data = zip.getEntry(entry.path)!.getData();
    expect({ path: entry.path, size: data.length, sha256: sha256(data) }).toEqual({
      path: entry.path,
      size: entry.size,
      sha256: entry.sha256,
    });
  }
  const sums = zip.readAsText('SHA256SUMS').trimEnd().split('\n');
  expect(sums).toEqual(manifest.entries.filter((entry) => entry.path !== 'SHA256SUMS').map((entry) => `${entry.sha256}  ${entry.path}`));
  expect(manifest.providers.map((provider) => provider.name)).toEqual(expect.arrayContaining(PROVIDERS));
  // Record counts: each JSON Lines file has as many lines as listed, its CSV as many rows, the totals add up.
  for (const provider of manifest.providers) {
    const jsonl = manifest.entries.filter((entry) => entry.provider === provider.name && entry.format === 'jsonl');
    expect(provider.counts.records).toBe(jsonl.reduce((sum, entry) => sum + entry.records!, 0));
    expect(provider.counts.files).toBe(
      manifest.entries.filter((entry) => entry.provider === provider.name && entry.kind === 'file').length,
    );
  }
  for (const entry of manifest.entries.filter((entry) => entry.format === 'jsonl')) {
    expect(jsonLines(zip, entry.path)).toHaveLength(entry.records!);
  }
  for (const entry of manifest.entries.filter((entry) => entry.format === 'csv')) {
    const rows: unknown[] = parseCsv(zip.getEntry(entry.path)!.getData(), { bom: true, columns: true });
    expect({ path: entry.path, rows: rows.length }).toEqual({ path: entry.path, rows: entry.records });
  }
  expect(manifest.totals.records).toBe(manifest.providers.reduce((sum, provider) => sum + provider.counts.records, 0));
  const readme = zip.readAsText('README.md');
  expect(readme).toContain('sha256sum -c SHA256SUMS');
  for (const provider of manifest.providers) {
    for (const holding of provider.holdings) expect(readme).toContain(holding.description);
  }
  return { zip, manifest };
}

describe('GDPR data export', () => {
  let t: TestApp;
  let directory: string;
  let conversationId: string;
  let questionId: string;
  let replyId: string;
  let attachmentId: string;
  let port: number;
  const sockets: Socket[] = [];
  const upload = Buffer.from(Array.from({ length: 400 }, (_, line) => `count sheet line ${line}: bin A-${line % 17}\n`).join(''));

  const as = (user: string, roles?: string[]) => t.auth(user, roles);
  const download = (path: string, user: string, roles?: string[]) =>
    t.http().get(`${API}${path}`).set(as(user, roles)).buffer(true).parse(binary);

  async function waitForStatus(path: string, user: string, roles: string[] | undefined, wanted: string[]): Promise<Job> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const job = (await t.http().get(`${API}${path}`).set(as(user, roles)).expect(200)).body as Job;
      if (wanted.includes(job.status)) return job;
      if (Date.now() > deadline) throw new Error(`export still ${job.status}: ${JSON.stringify(job)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function socketOf(user: string, roles?: string[]) {
    const socket = await connectSocket(port, '/chat', { token: t.token(user, roles) });
    sockets.push(socket);
    return recorder(socket);
  }

  /** What olga stored is all there, exactly; igor's is not. */
  async function checkOlgasData(zip: AdmZip): Promise<void> {
    const messages = jsonLines(zip, 'json/messages.jsonl');
    expect(messages.map((message) => message.content)).toEqual(expect.arrayContaining([QUESTION, FORMULA]));
    expect(messages.map((message) => message.id)).toEqual(expect.arrayContaining([questionId, replyId]));
    expect(messages).toHaveLength(await t.db.collection('chat_messages').countDocuments({ userId: 'olga' }));
    const csvMessages: Record<string, string>[] = parseCsv(zip.getEntry('csv/messages.csv')!.getData(), { bom: true, columns: true });
    expect(csvMessages.map((row) => row.content)).toEqual(expect.arrayContaining([QUESTION, `'${FORMULA}`]));

    const conversations = jsonLines(zip, 'json/conversations.jsonl');
    expect(conversations.map((conversation) => conversation.id)).toEqual([conversationId]);

    const attachments = jsonLines(zip, 'json/attachments.jsonl');
    expect(attachments).toEqual([expect.objectContaining({ id: attachmentId, originalName: 'count-sheet.txt', sha256: sha256(upload) })]);
    const file = zip.getEntries().find((entry) => entry.entryName.startsWith(`files/attachments/${attachmentId}`));
    expect(file).toBeDefined();
    expect(file!.getData().equals(upload)).toBe(true);

    expect(jsonLines(zip, 'json/feedback.jsonl')).toEqual([expect.objectContaining({ rating: 'up', comment: 'Spot on' })]);
    expect(jsonLines(zip, 'json/preferences.jsonl')).toEqual([expect.objectContaining({ language: 'de-AT', responseStyle: 'concise' })]);
    expect(zip.readAsText('json/facts.jsonl')).toContain('Usually at site DC-01');

    const everything = zip
      .getEntries()
      .map((entry) => entry.getData().toString('utf8'))
      .join('\n');
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('igor');
  }

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wms-data-export-'));
    t = await startTestApp({ DATA_DIR: directory, ATTACHMENTS_DIR: join(directory, 'attachments'), CHAT_RATE_LIMIT_PER_MINUTE: '10000' });
    port = await t.port();
    conversationId = (await t.http().post(`${API}/conversations`).set(as('olga')).send({ title: 'Dock 3 damage' }).expect(201)).body.id;
    const turn = await t
      .http()
      .post(`${API}/conversations/${conversationId}/messages`)
      .set(as('olga'))
      .send({ content: QUESTION })
      .expect(201);
    questionId = turn.body.userMessage.id;
    replyId = turn.body.assistantMessage.id;
    await t
      .http()
      .post(`${API}/conversations/${conversationId}/messages`)
      .set(as('olga'))
      .send({ content: FORMULA, reply: false })
      .expect(201);
    attachmentId = (
      await t.http().post(`${API}/messages/${questionId}/attachments`).set(as('olga')).attach('file', upload, 'count-sheet.txt').expect(201)
    ).body.items[0].id;
    await t.http().post(`${API}/messages/${replyId}/feedback`).set(as('olga')).send({ rating: 'up', comment: 'Spot on' }).expect(200);
    await t.http().put(`${API}/user/preferences`).set(as('olga')).send({ language: 'de-AT', responseStyle: 'concise' }).expect(200);
    await t.http().post(`${API}/user/preferences/facts`).set(as('olga')).send({ text: 'Usually at site DC-01' }).expect(201);

    const igors = (await t.http().post(`${API}/conversations`).set(as('igor')).send({ title: 'Private' }).expect(201)).body.id;
    await t.http().post(`${API}/conversations/${igors}/messages`).set(as('igor')).send({ content: SECRET, reply: false }).expect(201);
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await t.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('streams the caller’s whole archive: every provider’s data, checksums that match, nobody else’s data', async () => {
    const response = await download('/user/data-export', 'olga').expect(200);
    expect(response.headers['content-type']).toBe('application/zip');
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename="wms-chat-data-export-olga-\d{4}-\d{2}-\d{2}\.zip"/);
    const { zip, manifest } = checkedArchive(response.body as Buffer, 'olga', 'olga');
    await checkOlgasData(zip);
    expect(manifest.totals.files).toBe(1);
    // The CSV renderings were spooled under DATA_DIR, and the spool is emptied once the archive is done
    // (just after its last byte went out, so possibly after the client has it).
    const spool = join(directory, 'data-exports', '.spool');
    for (let waited = 0; (await readdir(spool)).length > 0 && waited < 5000; waited += 50)
      await new Promise((wake) => setTimeout(wake, 50));
    expect(await readdir(spool)).toEqual([]);

    // The download is recorded once the last byte has gone out, after the client has it.
    const audited = async () =>
      (
        await t.db
          .collection('chat_audit_log')
          .find({ 'actor.userId': 'olga', action: /^data-export\./ })
          .toArray()
      ).map((entry) => [entry.action, entry.details.mode]);
    const deadline = Date.now() + 5000;
    while ((await audited()).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await audited()).toEqual([
      ['data-export.created', 'sync'],
      ['data-export.downloaded', 'sync'],
    ]);
  });

  it('answers an export that fails before its first byte with a JSON error, not a broken zip', async () => {
    const registry = t.app.get(UserDataRegistry);
    const failing = {
      name: 'failing-first',
      holdings: [],
      inventory: () => Promise.resolve({}),
      // eslint-disable-next-line require-yield -- fails before yielding anything
      export: async function* () {
        await Promise.resolve();
        throw new Error('the store went away');
      },
      erase: () => Promise.resolve({}),
      pseudonymise: () => Promise.resolve({}),
    };
    const providers = jest.spyOn(registry, 'userDataProviders').mockReturnValue([failing, ...registry.userDataProviders()]);
    try {
      const response = await t.http().get(`${API}/user/data-export`).set(as('olga')).expect(500);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(response.body.code).toBe('INTERNAL_ERROR');
    } finally {
      providers.mockRestore();
    }
  });

  it('cuts the connection when an export fails after its first byte', async () => {
    const registry = t.app.get(UserDataRegistry);
    const failing = {
      name: 'failing-later',
      holdings: [],
      inventory: () => Promise.resolve({}),
      // eslint-disable-next-line @typescript-eslint/require-await -- one part, whose records fail
      export: async function* () {
        yield {
          kind: 'records' as const,
          name: 'breaks',
          description: 'breaks half-way',
          records: (async function* () {
            yield { n: 1 };
            await Promise.resolve();
            throw new Error('the store went away');
          })(),
        };
      },
      erase: () => Promise.resolve({}),
      pseudonymise: () => Promise.resolve({}),
    };
    const providers = jest.spyOn(registry, 'userDataProviders').mockReturnValue([...registry.userDataProviders(), failing]);
    try {
      await expect(download('/user/data-export', 'olga')).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    } finally {
      providers.mockRestore();
    }
  });

  let ownExport: Job;

  it('runs an export job for the user: status, progress, the ready event, a download with the same checks', async () => {
    const events = await socketOf('olga');
    const created = await t.http().post(`${API}/user/data-export`).set(as('olga')).expect(202);
    expect(created.body).toMatchObject({ subjectUserId: 'olga', requestedBy: { userId: 'olga' }, archive: null });
    expect(['queued', 'running', 'ready']).toContain(created.body.status);
    expect(created.headers.location).toBe(`/api/v1/chat/user/data-exports/${created.body.id}`);

    ownExport = await waitForStatus(`/user/data-exports/${created.body.id}`, 'olga', undefined, ['ready', 'failed']);
    expect(ownExport).toMatchObject({ status: 'ready', attempts: 1, error: null });
    await events.waitFor((received) =>
      received.some(([event, payload]) => event === 'data-export.ready' && (payload as { exportId: string }).exportId === ownExport.id),
    );

    // HEAD: the headers only, and no download recorded.
    const head = await t.http().head(`${API}/user/data-exports/${ownExport.id}/download`).set(as('olga')).expect(200);
    expect(Number(head.headers['content-length'])).toBe(ownExport.archive!.size);
    const response = await download(`/user/data-exports/${ownExport.id}/download`, 'olga').expect(200);
    const bytes = response.body as Buffer;
    expect(response.headers['content-type']).toBe('application/zip');
    expect(Number(response.headers['content-length'])).toBe(ownExport.archive!.size);
    expect(sha256(bytes)).toBe(ownExport.archive!.sha256);
    expect(response.headers.etag).toBe(`"${ownExport.archive!.sha256}"`);
    const { zip, manifest } = checkedArchive(bytes, 'olga', 'olga');
    await checkOlgasData(zip);
    expect(manifest.providers.find((provider) => provider.name === 'data-exports')!.counts.records).toBeGreaterThanOrEqual(1);

    const audited = await t.db.collection('chat_audit_log').find({ 'target.id': ownExport.id }).toArray();
    expect(audited.map((entry) => entry.action)).toEqual(['data-export.created', 'data-export.downloaded']);
  });

  let adminExport: Job;

  it('runs an export job for an admin about a user, which the admin (not the user) follows and downloads', async () => {
    const events = await socketOf('dpo', ADMIN);
    const created = await t.http().post(`${API}/admin/users/olga/data-export`).set(as('dpo', ADMIN)).expect(202);
    expect(created.body).toMatchObject({ subjectUserId: 'olga', requestedBy: { userId: 'dpo', roles: ADMIN } });
    expect(created.headers.location).toBe(`/api/v1/chat/admin/data-exports/${created.body.id}`);
    adminExport = await waitForStatus(`/admin/data-exports/${created.body.id}`, 'dpo', ADMIN, ['ready', 'failed']);
    expect(adminExport.status).toBe('ready');
    await events.waitFor((received) =>
      received.some(([event, payload]) => event === 'data-export.ready' && (payload as { exportId: string }).exportId === adminExport.id),
    );

    // Admins see every job; the subject sees only the jobs they requested.
    await t.http().get(`${API}/admin/data-exports/${ownExport.id}`).set(as('another-admin', ADMIN)).expect(200);
    expect((await t.http().get(`${API}/user/data-exports/${adminExport.id}`).set(as('olga')).expect(404)).body.code).toBe(
      'DATA_EXPORT_NOT_FOUND',
    );
    // The user routes serve one's own data only: the admin who asked for it reads it through the admin routes alone,
    // and keeps no way to it once the admin role is gone.
    for (const roles of [ADMIN, undefined]) {
      for (const path of [`/user/data-exports/${adminExport.id}`, `/user/data-exports/${adminExport.id}/download`]) {
        expect((await t.http().get(`${API}${path}`).set(as('dpo', roles)).expect(404)).body.code).toBe('DATA_EXPORT_NOT_FOUND');
      }
    }

    const response = await download(`/admin/data-exports/${adminExport.id}/download`, 'dpo', ADMIN).expect(200);
    const { zip } = checkedArchive(response.body as Buffer, 'olga', 'dpo');
    await checkOlgasData(zip);
    expect(zip.readAsText('README.md')).toContain('requested by `dpo` (roles: admin)');
    const audited = await t.db.collection('chat_audit_log').find({ 'target.id': adminExport.id }).toArray();
    expect(audited.map((entry) => [entry.action, entry.actor.userId, entry.subject?.userId])).toEqual([
      ['data-export.created', 'dpo', 'olga'],
      ['data-export.downloaded', 'dpo', 'olga'],
    ]);
  });

  it('refuses the admin routes to non-admins (403) and another user’s or an unknown job (404)', async () => {
    await t.http().post(`${API}/admin/users/olga/data-export`).set(as('olga')).expect(403);
    await t.http().get(`${API}/admin/data-exports/${ownExport.id}`).set(as('olga')).expect(403);
    await t.http().get(`${API}/admin/data-exports/${ownExport.id}/download`).set(as('olga')).expect(403);
    for (const path of [`/user/data-exports/${ownExport.id}`, `/user/data-exports/${ownExport.id}/download`]) {
      expect((await t.http().get(`${API}${path}`).set(as('igor')).expect(404)).body.code).toBe('DATA_EXPORT_NOT_FOUND');
    }
    const unknown = new mongoose.Types.ObjectId().toHexString();
    await t.http().get(`${API}/admin/data-exports/${unknown}`).set(as('dpo', ADMIN)).expect(404);
    await t.http().get(`${API}/user/data-exports/not-an-id`).set(as('olga')).expect(400);
    await t
      .http()
      .post(`${API}/admin/users/${encodeURIComponent('bad user!')}/data-export`)
      .set(as('dpo', ADMIN))
      .expect(400);
  });

  it('keeps one export per user at a time, in the store: 409 naming the active job, even for requests at once', async () => {
    const active = new mongoose.Types.ObjectId();
    const now = new Date();
    await t.db.collection(EXPORTS).insertOne({
      _id: active,
      subjectUserId: 'busy',
      requestedBy: { userId: 'busy', roles: [] },
      status: 'running',
      activeKey: 'active:busy',
      progress: { parts: 0, records: 0, bytes: 0, currentPart: null },
      attempts: 1,
      error: null,
      archive: null,
      runAfter: now,
      createdAt: now,
      startedAt: now,
      finishedAt: null,
      expiresAt: null,
      // Another instance is working on it.
      claimedBy: 'elsewhere',
      claimedUntil: new Date(now.getTime() + 3_600_000),
    });
    try {
      const answers = await Promise.all([
        ...Array.from({ length: 4 }, () => t.http().post(`${API}/user/data-export`).set(as('busy'))),
        t.http().post(`${API}/admin/users/busy/data-export`).set(as('dpo', ADMIN)),
      ]);
      for (const answer of answers) {
        expect(answer.status).toBe(409);
        expect(answer.body).toMatchObject({
          code: 'DATA_EXPORT_IN_PROGRESS',
          details: { exportId: active.toHexString(), status: 'running' },
        });
      }
      expect(await t.db.collection(EXPORTS).countDocuments({ subjectUserId: 'busy' })).toBe(1);
      // Not ready: 409 with its state.
      const notReady = await t.http().get(`${API}/user/data-exports/${active.toHexString()}/download`).set(as('busy')).expect(409);
      expect(notReady.body).toMatchObject({ code: 'DATA_EXPORT_NOT_READY', details: { status: 'running' } });
    } finally {
      await t.db.collection(EXPORTS).deleteOne({ _id: active });
    }
  });

  it('resumes an interrupted job from scratch on the scheduled run, and fails one after its third attempt', async () => {
    const id = new mongoose.Types.ObjectId(adminExport.id);
    const interrupted = {
      status: 'running',
      activeKey: 'active:olga',
      archive: null,
      claimedBy: 'dead-instance',
      claimedUntil: new Date(Date.now() - 1000),
    };
    await t.db.collection(EXPORTS).updateOne({ _id: id }, { $set: { ...interrupted, attempts: 1, finishedAt: null, expiresAt: null } });
    const run = await t.app.get(JobScheduler).runNow('data-exports');
    expect(run).toMatchObject({ status: 'succeeded', counts: expect.objectContaining({ resumed: 1 }) });
    const resumed = await waitForStatus(`/admin/data-exports/${adminExport.id}`, 'dpo', ADMIN, ['ready', 'failed']);
    expect(resumed).toMatchObject({ status: 'ready', attempts: 2 });
    const response = await download(`/admin/data-exports/${adminExport.id}/download`, 'dpo', ADMIN).expect(200);
    expect(sha256(response.body as Buffer)).toBe(resumed.archive!.sha256);
    checkedArchive(response.body as Buffer, 'olga', 'dpo');

    await t.db.collection(EXPORTS).updateOne({ _id: id }, { $set: { ...interrupted, attempts: 3, finishedAt: null, expiresAt: null } });
    expect((await t.app.get(JobScheduler).runNow('data-exports')).counts).toMatchObject({ failed: 1 });
    const failed = (await t.http().get(`${API}/admin/data-exports/${adminExport.id}`).set(as('dpo', ADMIN)).expect(200)).body as Job;
    expect(failed).toMatchObject({ status: 'failed', error: expect.stringContaining('Interrupted 3 times') });
    // The subject is free for a new export again.
    const next = await t.http().post(`${API}/admin/users/olga/data-export`).set(as('dpo', ADMIN)).expect(202);
    await waitForStatus(`/admin/data-exports/${next.body.id}`, 'dpo', ADMIN, ['ready']);
  });

  it('answers 410 once an archive expired, and the scheduled run removes the file', async () => {
    const archives = join(directory, 'data-exports');
    const archiveFile = async () => {
      for (const owner of await readdir(archives)) {
        if (existsSync(join(archives, owner, `${ownExport.id}.zip`))) return join(archives, owner, `${ownExport.id}.zip`);
      }
      return null;
    };
    expect(await archiveFile()).not.toBeNull();
    await t.db
      .collection(EXPORTS)
      .updateOne({ _id: new mongoose.Types.ObjectId(ownExport.id) }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await t.http().get(`${API}/user/data-exports/${ownExport.id}/download`).set(as('olga')).expect(410)).body).toMatchObject({
      error: 'Gone',
      code: 'DATA_EXPORT_EXPIRED',
    });

    expect((await t.app.get(JobScheduler).runNow('data-exports')).counts).toMatchObject({ expired: 1 });
    expect(await archiveFile()).toBeNull();
    const expired = (await t.http().get(`${API}/user/data-exports/${ownExport.id}`).set(as('olga')).expect(200)).body as Job;
    expect(expired).toMatchObject({ status: 'expired', archive: null });
    await t.http().get(`${API}/user/data-exports/${ownExport.id}/download`).set(as('olga')).expect(410);
  });

  it('streams one export per user at a time: 409 DATA_EXPORT_IN_PROGRESS while the first is still being sent', async () => {
    const registry = t.app.get(UserDataRegistry);
    const release = gate();
    const slow = waitingProvider('streamer', 'export', release.promise);
    const providers = jest.spyOn(registry, 'userDataProviders').mockReturnValue([...registry.userDataProviders(), slow]);
    try {
      const first = download('/user/data-export', 'streamer').then((response) => response);
      await slow.reached;
      const second = await t.http().get(`${API}/user/data-export`).set(as('streamer')).expect(409);
      expect(second.body).toMatchObject({ code: 'DATA_EXPORT_IN_PROGRESS', details: { exportId: null, status: 'streaming' } });
      // Someone else's export is not held up by it.
      await download('/user/data-export', 'bystander').expect(200);
      release.open();
      const sent = await first;
      expect(sent.status).toBe(200);
      checkedArchive(sent.body as Buffer, 'streamer', 'streamer');
      // Once it has been sent (which the server knows a moment after the client has the last byte: its download is
      // recorded then), the next one may start.
      const recorded = () =>
        t.db.collection('chat_audit_log').countDocuments({ 'actor.userId': 'streamer', action: 'data-export.downloaded' });
      const deadline = Date.now() + 5000;
      while ((await recorded()) === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await download('/user/data-export', 'streamer').expect(200);
    } finally {
      release.open();
      providers.mockRestore();
    }
  });

  it('refuses every export of a user while they are being erased (409 ERASURE_IN_PROGRESS), leaving no request behind', async () => {
    const user = 'leaving-now';
    await t.http().post(`${API}/conversations`).set(as(user)).send({ title: 'Last shift' }).expect(201);
    const registry = t.app.get(UserDataRegistry);
    const release = gate();
    // Last in line: every other part, the data-exports provider included, has been erased when it waits.
    const last = waitingProvider(user, 'erase', release.promise);
    const providers = jest.spyOn(registry, 'userDataProviders').mockReturnValue([...registry.userDataProviders(), last]);
    try {
      const erasure = t
        .http()
        .delete(`${API}/user/data`)
        .query({ confirm: ERASE_CONFIRMATION })
        .set(as(user))
        .then((response) => response);
      await last.reached;
      const refusals = [
        await t.http().post(`${API}/user/data-export`).set(as(user)),
        await t.http().post(`${API}/admin/users/${user}/data-export`).set(as('dpo', ADMIN)),
        await t.http().get(`${API}/user/data-export`).set(as(user)),
      ];
      for (const refusal of refusals) {
        expect({ status: refusal.status, code: refusal.body.code }).toEqual({ status: 409, code: 'ERASURE_IN_PROGRESS' });
      }
      expect(await t.db.collection(EXPORTS).countDocuments({ subjectUserId: user })).toBe(0);
      release.open();
      expect((await erasure).status).toBe(200);
    } finally {
      release.open();
      providers.mockRestore();
    }
    // Once the erasure is done, exporting what there is (nothing) is allowed again.
    const created = await t.http().post(`${API}/user/data-export`).set(as(user)).expect(202);
    await waitForStatus(`/user/data-exports/${created.body.id}`, user, undefined, ['ready']);
  });

  it('leaves no archive behind when the user is erased while their export is being stored', async () => {
    const user = 'racer';
    await t.http().post(`${API}/conversations`).set(as(user)).send({ title: 'Race' }).expect(201);
    const store = t.app.get<ArchiveStore>(ARCHIVE_STORE);
    const worker = t.app.get(DataExportWorker);
    const realWrite = store.write.bind(store);
    const erased = gate();
    const stored = gate<{ ref: ArchiveRef; archive: StoredArchive }>();
    // The archive is written completely, but only after the erasure (and its data-exports part) has finished.
    const writes = jest.spyOn(store, 'write').mockImplementationOnce(async (ref, source) => {
      await erased.promise;
      const archive = await realWrite(ref, source);
      stored.open({ ref, archive });
      return archive;
    });
    // The run's heartbeat has not noticed yet that its job is gone: what the run does when it finishes is what counts.
    const heartbeat = jest.spyOn(t.app.get(DataExportsRepository), 'heartbeat').mockResolvedValue(true);
    const runs = jest.spyOn(worker as unknown as { run(job: unknown): Promise<void> }, 'run');
    try {
      const created = await t.http().post(`${API}/user/data-export`).set(as(user)).expect(202);
      await waitForStatus(`/user/data-exports/${created.body.id}`, user, undefined, ['running']);
      await t.http().delete(`${API}/user/data`).query({ confirm: ERASE_CONFIRMATION }).set(as(user)).expect(200);
      erased.open();
      const { ref, archive } = await stored.promise;
      expect(ref.exportId).toBe(created.body.id);
      expect(archive.size).toBeGreaterThan(0);
      await runs.mock.results[0]!.value;
      expect(await t.db.collection(EXPORTS).countDocuments({ _id: new mongoose.Types.ObjectId(ref.exportId) })).toBe(0);
      const left = existsSync(join(directory, 'data-exports', ref.owner)) ? await readdir(join(directory, 'data-exports', ref.owner)) : [];
      expect(left.filter((name) => name.startsWith(ref.exportId))).toEqual([]);
    } finally {
      erased.open();
      writes.mockRestore();
      heartbeat.mockRestore();
      runs.mockRestore();
    }
  });

  it('removes spool directories a killed run left behind (CSV with message texts), not those still being written', async () => {
    const spool = join(directory, 'data-exports', '.spool');
    const stale = join(spool, 'export-of-a-killed-run');
    const live = join(spool, 'export-of-another-instance');
    for (const spooled of [stale, live]) {
      await mkdir(spooled, { recursive: true });
      await writeFile(join(spooled, 'messages.csv'), `id,content\r\n1,${QUESTION}\r\n`);
    }
    const longAgo = new Date(Date.now() - 2 * HOUR_MS);
    await utimes(join(stale, 'messages.csv'), longAgo, longAgo);
    await utimes(stale, longAgo, longAgo);
    try {
      expect((await t.app.get(JobScheduler).runNow('data-exports')).counts).toMatchObject({ spools: 1 });
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(join(live, 'messages.csv'))).toBe(true);
    } finally {
      await rm(live, { recursive: true, force: true });
    }
  });

  it('stores archives under the audit log’s keyed hash of the user, and still serves and erases one stored under the former plain hash', async () => {
    const user = 'veteran';
    const created = await t.http().post(`${API}/user/data-export`).set(as(user)).expect(202);
    const job = await waitForStatus(`/user/data-exports/${created.body.id}`, user, undefined, ['ready']);
    const archives = join(directory, 'data-exports');
    const keyed = `u_${(await t.app.get(AuditLog).userIdHash(user)).slice(0, 32)}`;
    expect(existsSync(join(archives, keyed, `${job.id}.zip`))).toBe(true);

    // Where archives went before: under a plain SHA-256 of the id, as the job's archive key says.
    const plain = `u_${sha256(Buffer.from(user)).slice(0, 32)}`;
    await mkdir(join(archives, plain), { recursive: true });
    await rename(join(archives, keyed, `${job.id}.zip`), join(archives, plain, `${job.id}.zip`));
    await t.db
      .collection(EXPORTS)
      .updateOne({ _id: new mongoose.Types.ObjectId(job.id) }, { $set: { 'archive.key': `${plain}/${job.id}.zip` } });
    const response = await download(`/user/data-exports/${job.id}/download`, user).expect(200);
    expect(sha256(response.body as Buffer)).toBe(job.archive!.sha256);

    const provider = t.app
      .get(UserDataRegistry)
      .userDataProviders()
      .find((candidate) => candidate.name === 'data-exports')!;
    expect(await provider.erase(user)).toEqual({ chat_data_exports: 1, 'files:data-exports': 1 });
    expect(existsSync(join(archives, plain, `${job.id}.zip`))).toBe(false);
  });

  it('lists, exports and erases its own share of a user’s data: the jobs and their archives', async () => {
    const created = await t.http().post(`${API}/user/data-export`).set(as('leaver')).expect(202);
    await waitForStatus(`/user/data-exports/${created.body.id}`, 'leaver', undefined, ['ready']);
    const provider = t.app
      .get(UserDataRegistry)
      .userDataProviders()
      .find((candidate) => candidate.name === 'data-exports')!;
    expect(await provider.inventory('leaver')).toEqual({ chat_data_exports: 1, 'files:data-exports': 1 });
    expect(await provider.erase('leaver')).toEqual({ chat_data_exports: 1, 'files:data-exports': 1 });
    expect(await provider.inventory('leaver')).toEqual({ chat_data_exports: 0, 'files:data-exports': 0 });
    expect(await provider.erase('leaver')).toEqual({ chat_data_exports: 0, 'files:data-exports': 0 });
    await t.http().get(`${API}/user/data-exports/${created.body.id}`).set(as('leaver')).expect(404);
  });
});

describe('GDPR data export with ATTACHMENT_STORAGE=gridfs', () => {
  let t: TestApp;
  const upload = Buffer.from('gridfs count sheet\n'.repeat(50));
  const as = (user: string, roles?: string[]) => t.auth(user, roles);
  const files = () => t.db.collection('chat_data_export_files.files');
  const chunks = () => t.db.collection('chat_data_export_files.chunks');

  async function exportReady(user: string): Promise<Job> {
    const created = await t.http().post(`${API}/user/data-export`).set(as(user)).expect(202);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const job = (await t.http().get(`${API}/user/data-exports/${created.body.id}`).set(as(user)).expect(200)).body as Job;
      if (job.status === 'ready' || job.status === 'failed') return job;
      if (Date.now() > deadline) throw new Error(`export still ${job.status}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  beforeAll(async () => {
    t = await startTestApp({ ATTACHMENT_STORAGE: 'gridfs' });
    const conversation = (await t.http().post(`${API}/conversations`).set(as('gina')).send({ title: 'GridFS' }).expect(201)).body.id;
    const message = await t
      .http()
      .post(`${API}/conversations/${conversation}/messages`)
      .set(as('gina'))
      .send({ content: 'Count aisle 4', reply: false });
    await t
      .http()
      .post(`${API}/messages/${message.body.userMessage.id}/attachments`)
      .set(as('gina'))
      .attach('file', upload, 'sheet.txt')
      .expect(201);
  });
  afterAll(() => t.close());

  it('keeps archives in the GridFS bucket under a keyed hash of the user, and removes them on expiry and erasure', async () => {
    const job = await exportReady('gina');
    expect(job.status).toBe('ready');
    const stored = await files().findOne({ _id: new mongoose.Types.ObjectId(job.id) });
    const owner = `u_${(await t.app.get(AuditLog).userIdHash('gina')).slice(0, 32)}`;
    expect(stored).toMatchObject({ length: job.archive!.size, metadata: { owner } });
    expect(JSON.stringify(stored)).not.toContain('gina');

    const response = await t
      .http()
      .get(`${API}/user/data-exports/${job.id}/download`)
      .set(as('gina'))
      .buffer(true)
      .parse(binary)
      .expect(200);
    expect(sha256(response.body as Buffer)).toBe(job.archive!.sha256);
    const { zip } = checkedArchive(response.body as Buffer, 'gina', 'gina');
    const file = zip.getEntries().find((entry) => entry.entryName.startsWith('files/attachments/'));
    expect(file!.getData().equals(upload)).toBe(true);

    await t.db
      .collection(EXPORTS)
      .updateOne({ _id: new mongoose.Types.ObjectId(job.id) }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
    expect((await t.app.get(JobScheduler).runNow('data-exports')).counts).toMatchObject({ expired: 1 });
    expect(await files().countDocuments({ _id: new mongoose.Types.ObjectId(job.id) })).toBe(0);
    expect(await chunks().countDocuments({ files_id: new mongoose.Types.ObjectId(job.id) })).toBe(0);
    await t.http().get(`${API}/user/data-exports/${job.id}/download`).set(as('gina')).expect(410);

    const next = await exportReady('gina');
    const provider = t.app
      .get(UserDataRegistry)
      .userDataProviders()
      .find((candidate) => candidate.name === 'data-exports')!;
    expect(await provider.inventory('gina')).toEqual({ chat_data_exports: 2, 'files:data-exports': 1 });
    expect(await provider.erase('gina')).toEqual({ chat_data_exports: 2, 'files:data-exports': 1 });
    expect(await files().countDocuments({})).toBe(0);
    expect(await chunks().countDocuments({ files_id: new mongoose.Types.ObjectId(next.id) })).toBe(0);
  });
});
