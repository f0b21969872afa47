import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mongoose from 'mongoose';
import * as fixtures from '../support/fixtures.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const API = '/api/v1/chat';
const { ObjectId } = mongoose.mongo;

interface AttachmentBody {
  id: string;
  processingStatus: string;
  processingError?: { code: string; message: string };
  quarantined?: boolean;
  [field: string]: unknown;
}

/**
 * Polls GET /api/v1/health every 100 ms over a real socket until stopped, and records how long
 * each answer took: the API's event loop must stay free while hostile files are parsed.
 */
function watchHealth(port: number): { stop(): Promise<number[]> } {
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/health`, { signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`health answered ${response.status}`);
      const took = performance.now() - started;
      latencies.push(took);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - took)));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return latencies;
    },
  };
}

/**
 * A parse on the event loop would hold every answer for as long as the parse runs (a looping
 * parser: until the poll's 10 s timeout); a busy two-core runner delays one by a second on its own.
 */
const STALLED_ANSWER_MS = 2_500;

function expectResponsive(latencies: number[], during: number): void {
  // No answer stalled, and the poll really ran all along (about every 100 ms).
  expect(Math.max(...latencies)).toBeLessThan(STALLED_ANSWER_MS);
  expect(latencies.length).toBeGreaterThanOrEqual(Math.floor(during / 100 / 2));
}

describe('Hostile attachments (parser sandbox)', () => {
  const directories: string[] = [];
  /** Running apps, with the environment each was started with. */
  const apps = new Map<TestApp, Record<string, string>>();

  /** Starts an app with a database and a storage directory of its own. */
  async function start(env: Record<string, string> = {}): Promise<TestApp> {
    const directory = await mkdtemp(join(tmpdir(), 'wms-hostile-'));
    directories.push(directory);
    return boot({ ATTACHMENTS_DIR: directory, ...env }, `test_${randomBytes(6).toString('hex')}`);
  }

  /** What the attachment processors said (warnings and worse): why a run was counted as a crash. */
  const processorLog: string[] = [];

  async function boot(env: Record<string, string>, dbName: string): Promise<TestApp> {
    const logDestination = {
      write: (line: string) => {
        const entry = JSON.parse(line) as { context?: string; msg?: string; code?: string; crashes?: number };
        if (entry.context === 'AttachmentProcessor')
          processorLog.push(`${entry.msg} (${entry.code ?? ''}, crashes ${entry.crashes ?? '-'})`);
      },
    };
    const app = await startTestApp({ LOG_LEVEL: 'warn', ...env }, { dbName, logDestination });
    apps.set(app, env);
    return app;
  }

  /** Stops an app without dropping its database and starts it again on the same database and files. */
  async function restart(app: TestApp): Promise<TestApp> {
    const env = apps.get(app)!;
    apps.delete(app);
    await app.app.close();
    return boot(env, app.db.databaseName);
  }

  afterAll(async () => {
    for (const app of apps.keys()) await app.close();
    await Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true })));
  });

  async function userMessage(app: TestApp, user: string): Promise<string> {
    const conversationId = (await app.http().post(`${API}/conversations`).set(app.auth(user)).send({}).expect(201)).body.id;
    const sent = await app
      .http()
      .post(`${API}/conversations/${conversationId}/messages`)
      .set(app.auth(user))
      .send({ content: 'See the attached file', reply: false })
      .expect(201);
    return sent.body.userMessage.id;
  }

  function upload(app: TestApp, user: string, messageId: string, files: [Buffer, string][]) {
    const request = app.http().post(`${API}/messages/${messageId}/attachments`).set(app.auth(user));
    for (const [bytes, name] of files) request.attach('file', bytes, { filename: name, contentType: 'application/octet-stream' });
    return request;
  }

  async function settled(app: TestApp, user: string, id: string, timeoutMs = 30_000): Promise<AttachmentBody> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = await app.http().get(`${API}/attachments/${id}`).set(app.auth(user)).expect(200);
      if (response.body.processingStatus !== 'pending') return response.body;
      if (Date.now() > deadline) throw new Error(`attachment ${id} still pending`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  const records = (app: TestApp, ids: string[]) =>
    app.db
      .collection('chat_attachments')
      .find({ _id: { $in: ids.map((id) => new ObjectId(id)) } }, { projection: { searchTerms: 0 } })
      .sort({ _id: 1 })
      .toArray();

  /** Restarts `app` on its database and storage, and checks that its boot sweep takes none of `ids` up again. */
  async function expectRestartLeavesAlone(app: TestApp, ids: string[]): Promise<TestApp> {
    const before = await records(app, ids);
    const restarted = await restart(app);
    // The boot sweep runs as the app starts; give it (and anything it would queue) time to act.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(await records(restarted, ids)).toEqual(before);
    expect(await restarted.db.collection('chat_attachments').countDocuments({ processingStatus: 'pending' })).toBe(0);
    return restarted;
  }

  it('fails zip bombs, a pixel bomb and broken PDFs with their reasons while /health answers within 1 s, and a restart leaves them alone', async () => {
    let app = await start();
    const messageId = await userMessage(app, 'mallory');
    const whole = await fixtures.pdf(['Pick list for aisle seven']);
    const files: [Buffer, string, string][] = [
      [await fixtures.zipBomb('docx'), 'report.docx', 'DECOMPRESSION_LIMIT'],
      [await fixtures.zipBomb('docx', 512 * 1024 * 1024, { lie: true }), 'small-report.docx', 'DECOMPRESSION_LIMIT'],
      [await fixtures.zipBomb('xlsx'), 'stock.xlsx', 'DECOMPRESSION_LIMIT'],
      [await fixtures.zipBomb('xlsx', 512 * 1024 * 1024, { lie: true }), 'small-stock.xlsx', 'DECOMPRESSION_LIMIT'],
      [await fixtures.pngPixelBomb(30_000, 30_000), 'shelf.png', 'IMAGE_TOO_LARGE'],
      [fixtures.garbagePdf(), 'garbage.pdf', 'CORRUPT_FILE'],
      [whole.subarray(0, 400), 'truncated.pdf', 'CORRUPT_FILE'],
    ];
    for (const [bytes] of files) expect(bytes.length).toBeLessThan(1024 * 1024);

    const health = watchHealth(await app.port());
    const started = Date.now();
    const items: AttachmentBody[] = (
      await upload(
        app,
        'mallory',
        messageId,
        files.map(([bytes, name]) => [bytes, name]),
      ).expect(201)
    ).body.items;
    const outcomes = await Promise.all(items.map((item) => settled(app, 'mallory', item.id)));
    const latencies = await health.stop();

    outcomes.forEach((outcome, index) => {
      const [, name, code] = files[index]!;
      expect({ name, status: outcome.processingStatus, code: outcome.processingError?.code }).toEqual({ name, status: 'failed', code });
      expect(outcome.processingError!.message).not.toBe('');
      expect(outcome.quarantined).toBeUndefined();
    });
    expect(outcomes[0]!.processingError!.message).toContain('more than 50 MB');
    expect(outcomes[4]!.processingError!.message).toContain('30000×30000 pixels');
    expectResponsive(latencies, Date.now() - started);
    // An image that was never decoded still carries whatever metadata it had: it is not served.
    const refused = await app.http().get(`${API}/attachments/${items[4]!.id}/content`).set(app.auth('mallory')).expect(409);
    expect(refused.body.code).toBe('ATTACHMENT_UNAVAILABLE');
    // Every parser run answered: none is counted as a crash (the processor's warnings say why one was).
    const crashes = (
      await records(
        app,
        items.map((item) => item.id),
      )
    ).map((record) => record.parserCrashes);
    expect({ crashes, processorLog }).toEqual({ crashes: files.map(() => 0), processorLog: expect.any(Array) });

    app = await expectRestartLeavesAlone(
      app,
      items.map((item) => item.id),
    );
  }, 90_000);

  it.each([
    ['odt', 'minutes.odt'],
    ['pptx', 'briefing.pptx'],
    ['epub', 'manual.epub'],
  ] as const)('refuses a %s zip bomb at upload (the type is not accepted), storing nothing', async (format, name) => {
    const app = await start();
    const messageId = await userMessage(app, 'mallory');
    const refused = await upload(app, 'mallory', messageId, [[await fixtures.zipBomb(format), name]]).expect(415);
    expect(refused.body.code).toBe('UNSUPPORTED_FILE_TYPE');
    expect(await app.db.collection('chat_attachments').countDocuments({})).toBe(0);
  });

  it('kills a parser that exhausts its memory limit, fails the file with PARSER_MEMORY_LIMIT, and carries on', async () => {
    const app = await start({ ATTACHMENT_PARSER_MEMORY_MB: '128' });
    const messageId = await userMessage(app, 'mallory');
    const health = watchHealth(await app.port());
    const started = Date.now();
    const [big] = (await upload(app, 'mallory', messageId, [[fixtures.largeDocx(4 * 1024 * 1024), 'inventory.docx']]).expect(201)).body
      .items;
    const outcome = await settled(app, 'mallory', big.id);
    const latencies = await health.stop();
    expect(outcome).toMatchObject({ processingStatus: 'failed', processingError: { code: 'PARSER_MEMORY_LIMIT' } });
    expect(outcome.processingError!.message).toContain('more than 128 MB of memory');
    expect(outcome.quarantined).toBeUndefined();
    expectResponsive(latencies, Date.now() - started);

    // The process is still here, and the next file is processed as usual.
    const [small] = (await upload(app, 'mallory', messageId, [[fixtures.docx(['Receiving procedure']), 'procedure.docx']]).expect(201)).body
      .items;
    expect(await settled(app, 'mallory', small.id)).toMatchObject({ processingStatus: 'processed', hasExtractedText: true });
    await app.http().get('/api/v1/health').expect(200);
  }, 60_000);

  it('retries a parser that timed out once, then quarantines the file; a restart leaves it alone', async () => {
    let app = await start({ ATTACHMENT_PARSER_TIMEOUT_MS: '300' });
    const messageId = await userMessage(app, 'mallory');
    const health = watchHealth(await app.port());
    const started = Date.now();
    const [slow] = (await upload(app, 'mallory', messageId, [[fixtures.largeDocx(4 * 1024 * 1024), 'ledger.docx']]).expect(201)).body.items;
    const outcome = await settled(app, 'mallory', slow.id);
    const latencies = await health.stop();
    expect(outcome).toMatchObject({ processingStatus: 'failed', quarantined: true, processingError: { code: 'PARSER_TIMEOUT' } });
    expect(outcome.processingError!.message).toContain('longer than 300 ms');
    expect(outcome.processingError!.message).toContain('tried 2 times');
    const [record] = await records(app, [slow.id]);
    expect(record).toMatchObject({ parserCrashes: 2, processingAttempts: 2, quarantined: true });
    expectResponsive(latencies, Date.now() - started);

    app = await expectRestartLeavesAlone(app, [slow.id]);
  }, 60_000);

  it('quarantines at boot, without parsing it again, a file whose parser went down with the process twice', async () => {
    const app = await start();
    const messageId = await userMessage(app, 'mallory');
    const [file] = (await upload(app, 'mallory', messageId, [[fixtures.docx(['Receiving procedure']), 'procedure.docx']]).expect(201)).body
      .items;
    await settled(app, 'mallory', file.id);
    // As two instances that died while parsing it leave it: pending, two runs counted, the claim run out.
    await app.db
      .collection('chat_attachments')
      .updateOne(
        { _id: new ObjectId(file.id) },
        { $set: { processingStatus: 'pending', extractedText: null, parserCrashes: 2, claimedUntil: new Date(Date.now() - 1000) } },
      );
    const restarted = await restart(app);
    const outcome = await settled(restarted, 'mallory', file.id);
    expect(outcome).toMatchObject({ processingStatus: 'failed', quarantined: true, processingError: { code: 'PARSER_CRASHED' } });
    expect(outcome.hasExtractedText).toBe(false);
    // No third run was started (it would have been counted before it began).
    const [record] = await records(restarted, [file.id]);
    expect(record!.parserCrashes).toBe(2);
  }, 60_000);
});
