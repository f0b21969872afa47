import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AppProcess, eventually, startAppProcess } from '../support/app-process.js';

/**
 * Acknowledged means stored: the app runs as `npm start` runs it (built app, persistent embedded
 * store), eight writers send messages, and the store — or the whole process group — is killed
 * with SIGKILL. Every message answered 201 must be there afterwards, once, with exact counts.
 */
const CONVERSATIONS = '/api/v1/chat/conversations';
const USER = 'durable-user';
const WRITERS = 8;

interface Load {
  acked: Map<string, Set<string>>;
  statuses: Map<number | string, number>;
  stop(): Promise<void>;
}

function env(dataDir: string): Record<string, string> {
  return {
    DATA_DIR: dataDir,
    CHAT_MAX_MESSAGES_PER_CONVERSATION: '100000',
    // The count repair looks at conversations idle for a second, every second.
    CHAT_COUNT_REPAIR_CRON: '*/1 * * * * *',
    CHAT_COUNT_REPAIR_GRACE_SECONDS: '1',
  };
}

/** WRITERS concurrent senders over `conversations` (two writers per conversation share its seq counter). */
function startLoad(app: () => AppProcess, conversations: string[], round: string): Load {
  const acked = new Map(conversations.map((id) => [id, new Set<string>()]));
  const statuses = new Map<number | string, number>();
  let stopped = false;
  const writers = Array.from({ length: WRITERS }, async (_, writer) => {
    const conversation = conversations[writer % conversations.length]!;
    for (let i = 0; !stopped; i++) {
      const content = `${round} writer ${writer} message ${i}`;
      const outcome = await app()
        .request('POST', `${CONVERSATIONS}/${conversation}/messages`, { sub: USER, body: { content, reply: false }, timeoutMs: 10_000 })
        .then((answer) => answer.status)
        .catch(() => 'network');
      statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
      if (outcome === 201) acked.get(conversation)!.add(content);
      else await new Promise((wake) => setTimeout(wake, 50));
    }
  });
  return {
    acked,
    statuses,
    stop: async () => {
      stopped = true;
      await Promise.all(writers);
    },
  };
}

async function storedContents(app: AppProcess, conversation: string): Promise<{ contents: string[]; seqs: number[] }> {
  const contents: string[] = [];
  const seqs: number[] = [];
  let cursor: string | null = null;
  do {
    const page = await app.request('GET', `${CONVERSATIONS}/${conversation}/messages?limit=200${cursor ? `&after=${cursor}` : ''}`, {
      sub: USER,
    });
    expect(page.status).toBe(200);
    for (const item of page.body.items as Array<{ content: string; seq: number }>) {
      contents.push(item.content);
      seqs.push(item.seq);
    }
    cursor = page.body.nextCursor;
  } while (cursor);
  return { contents, seqs };
}

/** Every acknowledged message is stored exactly once, seqs are unique, and the counts agree (after the repair job). */
async function expectEverythingAcknowledgedStored(app: AppProcess, acknowledged: Map<string, Set<string>>): Promise<number> {
  let total = 0;
  for (const [conversation, acked] of acknowledged) {
    const { contents, seqs } = await storedContents(app, conversation);
    const missing = [...acked].filter((content) => !contents.includes(content));
    expect(missing).toEqual([]);
    expect(new Set(contents).size).toBe(contents.length);
    expect(new Set(seqs).size).toBe(seqs.length);
    await eventually(`messageCount of ${conversation} to equal ${contents.length}`, async () => {
      const { body } = await app.request('GET', `${CONVERSATIONS}/${conversation}`, { sub: USER });
      return body.messageCount === contents.length || undefined;
    });
    total += acked.size;
  }
  return total;
}

/** No 500 answers; the app's log of unexpected errors is shown when there were some. */
function expectNoServerErrors(load: Load, app: AppProcess): void {
  const unexpected = app
    .output()
    .split('\n')
    .filter((line) => line.includes('Unhandled error'))
    .map((line) => line.slice(0, 600));
  expect({ internalErrors: load.statuses.get(500) ?? 0, unexpected }).toEqual({ internalErrors: 0, unexpected: [] });
}

function merge(into: Map<string, Set<string>>, from: Map<string, Set<string>>): void {
  for (const [id, contents] of from) {
    const target = into.get(id) ?? new Set<string>();
    contents.forEach((content) => target.add(content));
    into.set(id, target);
  }
}

describe('Durability of acknowledged writes (persistent embedded store)', () => {
  let dataDir: string;
  let app: AppProcess | undefined;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'wms-chat-durability-'));
  });
  afterEach(async () => {
    app?.killGroup();
    await app?.exited;
    app = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function createConversations(count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const created = await app!.request('POST', CONVERSATIONS, { sub: USER, body: { title: `durable ${i}` } });
      expect(created.status).toBe(201);
      ids.push(created.body.id);
    }
    return ids;
  }

  it('loses nothing acknowledged when the store is killed with SIGKILL under 8 writers, twice; the app restarts it and answers 503 meanwhile', async () => {
    app = await startAppProcess(env(dataDir));
    const conversations = await createConversations(4);
    const everything = new Map<string, Set<string>>();
    for (const round of ['first', 'second']) {
      const load = startLoad(() => app!, conversations, round);
      await new Promise((wake) => setTimeout(wake, 1000));
      const storePid = app.storePid();
      expect(storePid).toBeDefined();
      process.kill(storePid!, 'SIGKILL');
      // The supervisor restarts the store on the same data; writes resume.
      await eventually(
        'the store to come back',
        async () => (await app!.request('GET', '/api/v1/health/ready')).status === 200 || undefined,
      );
      await new Promise((wake) => setTimeout(wake, 500));
      await load.stop();
      expectNoServerErrors(load, app);
      expect(load.statuses.get(201)).toBeGreaterThan(WRITERS);
      merge(everything, load.acked);
    }
    expect(app.storeEvents().filter((line) => line.includes('restarting it on the same data'))).toHaveLength(2);
    expect(await expectEverythingAcknowledgedStored(app, everything)).toBeGreaterThan(0);
  }, 120_000);

  it('loses nothing acknowledged when the whole process group is killed with SIGKILL under 8 writers, twice', async () => {
    app = await startAppProcess(env(dataDir));
    const conversations = await createConversations(4);
    const everything = new Map<string, Set<string>>();
    for (const round of ['first', 'second']) {
      const load = startLoad(() => app!, conversations, round);
      await new Promise((wake) => setTimeout(wake, 1500));
      app.killGroup('SIGKILL');
      await app.exited;
      await load.stop();
      expectNoServerErrors(load, app);
      merge(everything, load.acked);
      app = await startAppProcess(env(dataDir));
      await expectEverythingAcknowledgedStored(app, everything);
    }
    // The next message continues the sequence without reusing a seq.
    const sent = await app.request('POST', `${CONVERSATIONS}/${conversations[0]}/messages`, {
      sub: USER,
      body: { content: 'after the crashes', reply: false },
    });
    expect(sent.status).toBe(201);
    const { seqs } = await storedContents(app, conversations[0]!);
    expect(new Set(seqs).size).toBe(seqs.length);
  }, 120_000);
});
