import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { EMBEDDED_STORE_JAR } from '../../src/database/store/mongo-store.js';
import { startRedis } from '../support/redis-server.js';
import { type AppProcess, type HttpAnswer, eventually, freePort, requestJson, startAppProcess } from '../support/app-process.js';

/**
 * SIGTERM, as an orchestrator sends it (to the app or its whole process group): in-flight
 * requests and replies finish, busy keep-alive clients are told to go, the store stops last, and
 * the process exits within SHUTDOWN_TIMEOUT_MS. Nothing answered 2xx is lost, nothing answers 500.
 */
const CONVERSATIONS = '/api/v1/chat/conversations';
const USER = 'shutdown-user';

type Outcome = number | 'network';

async function messagesOf(port: number, conversation: string): Promise<string[]> {
  const contents: string[] = [];
  let cursor: string | null = null;
  do {
    const page: HttpAnswer = await requestJson(
      port,
      'GET',
      `${CONVERSATIONS}/${conversation}/messages?limit=200${cursor ? `&after=${cursor}` : ''}`,
      {
        sub: USER,
      },
    );
    expect(page.status).toBe(200);
    contents.push(...(page.body.items as Array<{ content: string }>).map((item) => item.content));
    cursor = page.body.nextCursor;
  } while (cursor);
  return contents;
}

describe('Graceful, bounded shutdown', () => {
  let dataDir: string;
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'wms-chat-shutdown-'));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function track(app: AppProcess): AppProcess {
    cleanups.push(async () => {
      app.killGroup();
      await app.exited;
    });
    return app;
  }

  it('on SIGTERM to the process group: finishes in-flight requests and replies, closes keep-alive clients, exits 0 within the deadline', async () => {
    const app = track(await startAppProcess({ DATA_DIR: dataDir, SHUTDOWN_TIMEOUT_MS: '6000', PLAYBOOK_CHUNK_DELAY_MS: '60' }));
    const conversations: string[] = [];
    for (let i = 0; i < 3; i++) conversations.push((await app.request('POST', CONVERSATIONS, { sub: USER, body: {} })).body.id);

    const keepAlive = new Agent({ keepAlive: true, maxSockets: 8 });
    const acked = new Set<string>();
    const outcomes: Outcome[] = [];
    const closeHeaders: string[] = [];
    let stopped = false;
    const writers = Array.from({ length: 6 }, async (_, writer) => {
      for (let i = 0; !stopped; i++) {
        const content = `writer ${writer} message ${i}`;
        const answer = await requestJson(app.port, 'POST', `${CONVERSATIONS}/${conversations[0]}/messages`, {
          sub: USER,
          body: { content, reply: false },
          agent: keepAlive,
        }).catch(() => null);
        outcomes.push(answer?.status ?? 'network');
        if (answer?.status === 201) acked.add(content);
        if (answer?.headers.connection === 'close') closeHeaders.push(content);
        if (!answer) return; // the server is gone
      }
    });
    await new Promise((wake) => setTimeout(wake, 500));
    // Two chat turns whose replies take a while to write are in flight when SIGTERM arrives.
    const turns = conversations.slice(1).map((conversation) =>
      requestJson(app.port, 'POST', `${CONVERSATIONS}/${conversation}/messages`, {
        sub: USER,
        body: { content: 'How do I handle a short pick on a busy shift?' },
        agent: keepAlive,
        timeoutMs: 20_000,
      }),
    );
    await new Promise((wake) => setTimeout(wake, 150));
    const signalled = Date.now();
    app.killGroup('SIGTERM');
    const exitCode = await app.exited;
    const exitedAfter = Date.now() - signalled;
    stopped = true;
    await Promise.all(writers);
    keepAlive.destroy();

    expect(exitCode).toBe(0);
    expect(exitedAfter).toBeLessThan(6000 + 1000);
    expect(outcomes.filter((outcome) => typeof outcome === 'number' && outcome >= 500)).toEqual([]);
    for (const turn of await Promise.all(turns)) {
      expect(turn.status).toBe(201);
      expect(turn.body.assistantMessage).toMatchObject({ status: 'completed' });
      expect(turn.body.assistantMessage.content.length).toBeGreaterThan(0);
    }
    expect(closeHeaders.length).toBeGreaterThan(0);
    expect(app.output()).toContain('SIGTERM received');

    // Everything acknowledged is stored.
    const restarted = track(await startAppProcess({ DATA_DIR: dataDir }));
    const stored = await messagesOf(restarted.port, conversations[0]!);
    expect([...acked].filter((content) => !stored.includes(content))).toEqual([]);
    expect(acked.size).toBeGreaterThan(0);
  }, 90_000);

  it('loses nothing in a rolling restart of two instances sharing one store and Redis under write load', async () => {
    const redis = await startRedis();
    if (!redis) throw new Error('redis-server is not installed: apt-get install -y redis-server (.ci/run does)');
    cleanups.push(() => redis.stop());
    const storePort = await freePort();
    const store: ChildProcess = spawn(
      'java',
      ['-jar', EMBEDDED_STORE_JAR, '--file', join(dataDir, 'shared.mv.db'), '--port', String(storePort)],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          store.once('exit', () => resolve());
          store.stdin!.end();
        }),
    );
    await new Promise<void>((resolve) =>
      createInterface({ input: store.stdout! }).on('line', (line) => line.startsWith('LISTENING') && resolve()),
    );
    const shared = { MONGODB_URI: `mongodb://127.0.0.1:${storePort}/wms_rolling`, REDIS_URL: redis.url, SHUTDOWN_TIMEOUT_MS: '5000' };
    const ports = [await freePort(), await freePort()];
    const instances: AppProcess[] = [];
    for (const port of ports) instances.push(track(await startAppProcess({ ...shared, PORT: String(port) })));

    const conversation = (await instances[0]!.request('POST', CONVERSATIONS, { sub: USER, body: {} })).body.id as string;
    const acked = new Set<string>();
    const outcomes: Outcome[] = [];
    let stopped = false;
    const writers = Array.from({ length: 8 }, async (_, writer) => {
      let target = writer % 2;
      for (let i = 0; !stopped; i++) {
        const content = `writer ${writer} message ${i}`;
        const answer = await requestJson(ports[target]!, 'POST', `${CONVERSATIONS}/${conversation}/messages`, {
          sub: USER,
          body: { content, reply: false },
        }).catch(() => null);
        outcomes.push(answer?.status ?? 'network');
        if (answer?.status === 201) acked.add(content);
        else target = 1 - target; // like a load balancer taking a stopping instance out
      }
    });

    for (const index of [0, 1]) {
      await new Promise((wake) => setTimeout(wake, 700));
      const old = instances[index]!;
      old.killGroup('SIGTERM');
      expect(await old.exited).toBe(0);
      instances[index] = track(await startAppProcess({ ...shared, PORT: String(ports[index]) }));
      await eventually(
        'the restarted instance to be ready',
        async () => (await instances[index]!.request('GET', '/api/v1/health/ready')).status === 200 || undefined,
      );
    }
    await new Promise((wake) => setTimeout(wake, 500));
    stopped = true;
    await Promise.all(writers);

    expect(outcomes.filter((outcome) => typeof outcome === 'number' && outcome >= 500)).toEqual([]);
    expect(acked.size).toBeGreaterThan(50);
    const stored = await messagesOf(ports[1]!, conversation);
    expect([...acked].filter((content) => !stored.includes(content))).toEqual([]);
    expect(new Set(stored).size).toBe(stored.length);
  }, 120_000);
});
