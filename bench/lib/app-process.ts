import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { embeddedStoreOf, freePort } from '../../test/support/processes.js';
import { sendJson } from './http.js';

export { freePort };

/** The built app, as `npm start` runs it. */
export const MAIN_JS = fileURLToPath(new URL('../../src/main.js', import.meta.url));

export interface AppProcess {
  child: ChildProcess;
  port: number;
  /** Keep-alive connections to this process. */
  agent: Agent;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** The last 100 KB the process printed. */
  output(): string;
  /** pid of the embedded store this process started (its child running embedded-store.jar), if any. */
  storePid(): number | undefined;
  /** The port that store listens on (from /proc), if any. */
  storePort(): number | undefined;
  /** A signal to the app and everything in its process group (the store it started). */
  signalGroup(signal: NodeJS.Signals): void;
}

/**
 * Starts `node dist/src/main.js` in a process group of its own (so the group can be killed, as a
 * crash or an orchestrator would) with `env` on top of a minimal environment, and waits until
 * `/api/v1/health/ready` answers 200. Rejects with its output when it exits first or takes longer than `timeoutMs`.
 */
export async function startAppProcess(env: Record<string, string>, timeoutMs = 90_000): Promise<AppProcess> {
  // A build in progress (e.g. in a shared checkout) removes dist/ for a while.
  for (let waited = 0; !existsSync(MAIN_JS); waited += 1000) {
    if (waited >= 120_000) throw new Error(`${MAIN_JS} is missing: build the app first (npm run build)`);
    await sleep(1000);
  }
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN_JS], {
    env: {
      PATH: process.env.PATH,
      ...(process.env.JAVA_HOME ? { JAVA_HOME: process.env.JAVA_HOME } : {}),
      HOST: '127.0.0.1',
      ...env,
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-100_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let hasExited = false;
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      hasExited = true;
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  const agent = new Agent({ keepAlive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (hasExited) throw new Error(`the app exited (${await exited}) before it was ready:\n${output}`);
    const ready = await sendJson(agent, port, 'GET', '/api/v1/health/ready', '').catch(() => undefined);
    if (ready?.status === 200) break;
    if (Date.now() > deadline) {
      killGroup(child, 'SIGKILL');
      throw new Error(`the app was not ready within ${timeoutMs} ms:\n${output}`);
    }
    await sleep(200);
  }
  return {
    child,
    port,
    agent,
    exited,
    output: () => output,
    storePid: () => embeddedStoreOf(child.pid!),
    storePort: () => {
      const pid = embeddedStoreOf(child.pid!);
      return pid === undefined ? undefined : listeningPorts(pid)[0];
    },
    signalGroup: (signal) => killGroup(child, signal),
  };
}

/** TCP ports a process listens on (Linux: its socket inodes in /proc/<pid>/fd, matched in /proc/net/tcp). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const target = readlinkOrEmpty(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode) inodes.add(inode);
    }
  } catch {
    return [];
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields[3] === '0A' && inodes.has(fields[9] ?? '')) ports.push(Number.parseInt(fields[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

function readlinkOrEmpty(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((wake) => setTimeout(wake, ms));
}

/** A process's resident memory in MB, from /proc (Linux). */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}
