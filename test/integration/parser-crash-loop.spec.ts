import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import * as fixtures from '../support/fixtures.js';
import { AppProcess, bearer, eventually, startAppProcess } from '../support/app-process.js';
import { childrenRunning } from '../support/processes.js';

const { MongoClient, ObjectId } = mongoose.mongo;
const API = '/api/v1/chat';
const USER = 'mallory';

/** The parser children of an app process (node running parser-child.js). */
function parserChildren(pid: number): number[] {
  return childrenRunning(pid, 'parser-child.js');
}

// The crash loop from the incident: the process dies while a file is being parsed, restarts, the
// sweep takes the file up again when its claim runs out, and the process dies again. Each parser
// run is recorded before it starts, so the deaths are counted, and the file is quarantined.
describe('A process that dies while parsing a file (the app as a real process)', () => {
  const dbName = `test_${randomBytes(6).toString('hex')}`;
  const client = new MongoClient(process.env.TEST_MONGODB_URI!);
  let directory: string;
  let app: AppProcess | undefined;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'wms-crash-loop-'));
    await client.connect();
  });
  afterAll(async () => {
    app?.killGroup('SIGKILL');
    await client.db(dbName).dropDatabase();
    await client.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('counts each death mid-parse and quarantines the file on the next boot instead of parsing it a third time', async () => {
    const env = { MONGODB_URI: process.env.TEST_MONGODB_URI!, MONGODB_DB_NAME: dbName, ATTACHMENTS_DIR: directory };
    const attachments = client.db(dbName).collection('chat_attachments');
    app = await startAppProcess(env);

    const conversation = await app.request('POST', `${API}/conversations`, { sub: USER, body: {} });
    const sent = await app.request('POST', `${API}/conversations/${conversation.body.id}/messages`, {
      sub: USER,
      body: { content: 'The ledger is attached', reply: false },
    });
    // A legitimate document that takes the parser seconds: the window in which the process dies.
    const form = new FormData();
    form.append('file', new Blob([fixtures.largeDocx(12 * 1024 * 1024)]), 'ledger.docx');
    const uploaded = await fetch(`http://127.0.0.1:${app.port}${API}/messages/${sent.body.userMessage.id}/attachments`, {
      method: 'POST',
      headers: { authorization: bearer(USER) },
      body: form,
    });
    expect(uploaded.status).toBe(201);
    const id = new ObjectId(((await uploaded.json()) as { items: { id: string }[] }).items[0]!.id);

    for (const run of [1, 2]) {
      const current = app;
      // The parser is running, and its run is already on record.
      await eventually(`parser run ${run} under way and counted`, async () => {
        const record = await attachments.findOne({ _id: id });
        return record?.parserCrashes === run && parserChildren(current.child.pid!).length > 0 ? true : undefined;
      });
      current.killGroup('SIGKILL');
      await current.exited;
      expect(await attachments.findOne({ _id: id })).toMatchObject({ processingStatus: 'pending', parserCrashes: run });
      // The dead instance's claim runs out (five minutes and the parser deadline; not waited for here).
      await attachments.updateOne({ _id: id }, { $set: { claimedUntil: new Date(Date.now() - 1000) } });
      app = await startAppProcess(env);
    }

    const outcome = await eventually('the file quarantined', async () => {
      const record = await attachments.findOne({ _id: id });
      return record?.processingStatus === 'pending' ? undefined : record;
    });
    expect(outcome).toMatchObject({
      processingStatus: 'failed',
      quarantined: true,
      parserCrashes: 2,
      processingError: { code: 'PARSER_CRASHED' },
    });
    expect(parserChildren(app.child.pid!)).toEqual([]);
    const served = await app.request('GET', `${API}/attachments/${id.toHexString()}`, { sub: USER });
    expect(served.body).toMatchObject({ processingStatus: 'failed', quarantined: true, processingError: { code: 'PARSER_CRASHED' } });
    expect((await app.request('GET', '/api/v1/health')).status).toBe(200);
  }, 120_000);
});
