import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { embeddedStoreOf, freePort } from './processes.js';
import { TEST_JWT_SECRET } from './test-app.js';

export { freePort };

/** The app as `npm start` runs it (built by `npm test`'s pretest step). */
export const MAIN_JS = join(process.cwd(), 'dist', 'src', 'main.js');

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON of any route, as supertest's `body`
  body: any;
  ms: number;
}

export interface AppProcess {
  child: ChildProcess;
  port: number;
  /** The last 200 KB the process printed, for assertions and failure messages. */
  output(): string;
  /** Every line the process logged about its embedded store (supervisor events), however long the output. */
  storeEvents(): string[];
  request(method: string, path: string, options?: { body?: unknown; sub?: string; agent?: Agent; timeoutMs?: number }): Promise<HttpAnswer>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** pid of the embedded store this process started, if any. */
  storePid(): number | undefined;
  /** SIGKILL to the app and everything in its process group (the store it started). */
  killGroup(signal?: NodeJS.Signals): void;
}

export function bearer(sub: string): string {
  return `Bearer ${jwt.sign({ sub, roles: ['warehouse_operator'] }, TEST_JWT_SECRET, { algorithm: 'HS256', expiresIn: '1h' })}`;
}

/**
 * Starts `node dist/src/main.js` in a process group of its own (so a test can signal or kill the
 * group, as an orchestrator or a crash would) and waits until it listens. Rejects with its output
 * when it exits first.
 */
export async function startAppProcess(env: Record<string, string>, spawnOptions: SpawnOptions = {}): Promise<AppProcess> {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run the suite with npm test (its pretest step builds the app)`);
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const child = spawn(process.execPath, [MAIN_JS], {
    env: {
      PATH: process.env.PATH,
      JAVA_HOME: process.env.JAVA_HOME,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      JWT_SECRET: TEST_JWT_SECRET,
      HOST: '127.0.0.1',
      PLAYBOOK_CHUNK_DELAY_MS: '0',
      CHAT_RATE_LIMIT_PER_MINUTE: '100000',
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...spawnOptions,
  });
  let output = '';
  const storeEvents: string[] = [];
  const collect = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-200_000);
    for (const line of text.split('\n')) if (line.includes('EmbeddedStore')) storeEvents.push(line);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the app did not start within 60 s:\n${output}`)), 60_000);
    const onData = () => {
      if (output.includes('Listening on http')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`the app exited (${code}) before listening:\n${output}`), { exitCode: code, output }));
    });
  });

  const agent = new Agent({ keepAlive: false });
  return {
    child,
    port,
    output: () => output,
    storeEvents: () => storeEvents,
    exited,
    request: (method, path, options = {}) => requestJson(port, method, path, { agent, ...options }),
    storePid: () => embeddedStoreOf(child.pid!),
    killGroup: (signal = 'SIGKILL') => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    },
  };
}

export function requestJson(
  port: number,
  method: string,
  path: string,
  options: { body?: unknown; sub?: string; agent?: Agent; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const started = Date.now();
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: options.agent,
        timeout: options.timeoutMs ?? 15_000,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          ...(options.sub ? { authorization: bearer(options.sub) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: Date.now() - started });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Polls until `check` returns a value (not undefined), or fails after `timeoutMs` with `what`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error as Error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((wake) => setTimeout(wake, 200));
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN, outside a locked-down container). */
export function canMountTmpfs(): boolean {
  if (!isRoot()) return false;
  const probe = mkdtempSync(join(tmpdir(), 'wms-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Whether user `uid` can run the built app from where this checkout lies (its parent folders may be private). */
export function canRunAppAs(uid: number): boolean {
  if (!isRoot()) return false;
  const probe = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(MAIN_JS)}, require('fs').constants.R_OK)`], {
    uid,
    gid: uid,
    stdio: 'ignore',
  });
  return probe.status === 0;
}
