// Plain JavaScript on purpose: Jest's global setup loads this before any TypeScript transform
// runs, and the app imports the same file, so tests and production resolve the store one way.
// Types are JSDoc, checked by tsc (allowJs + checkJs).
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Where the app's data lives. `MONGODB_URI` always wins; without it the app starts a store of its
 * own: a real `mongod` when one is on PATH (or named by MONGOD_BINARY), else the embedded
 * MongoDB wire-compatible server (mongo-java-server) built from embedded-store/, supervised: if it
 * dies it is restarted on the same data file and port, with backoff.
 *
 * @typedef {object} MongoStore
 * @property {string} uri
 * @property {'external' | 'mongod' | 'mongo-java-server'} kind
 * @property {string} description One line for logs: which store, where its data is.
 * @property {() => StoreState} state What the process that started the store knows of it.
 * @property {(listener: (state: StoreState) => void) => () => void} onStateChange
 * @property {() => Promise<void>} stop
 */

/**
 * @typedef {object} StoreState
 * @property {'up' | 'restarting' | 'stopped'} status `up` for stores this process does not run.
 * @property {'disk-full' | 'exited' | 'unwritable' | null} reason Why it is not up.
 * @property {string | null} detail The store's own words (its last line on stderr).
 * @property {number} restarts
 */

/**
 * @typedef {object} MongoStoreOptions
 * @property {string} [uri]
 * @property {'memory' | { dataDir: string }} persistence `memory` for tests: nothing outlives stop().
 * @property {string} [mongodBinary]
 * @property {number} [startTimeoutMs]
 * @property {number} [minFreeMb] The embedded store refuses writes (OutOfDiskSpace) below this much free disk.
 * @property {(level: 'info' | 'warn' | 'error', message: string) => void} [log]
 */

/** A store that cannot be started as configured; its message says why and how to fix it. */
export class StoreStartError extends Error {
  /**
   * @param {string} message
   * @param {number | null} [exitCode] the embedded store's exit code, when it exited
   */
  constructor(message, exitCode = null) {
    super(message);
    this.name = 'StoreStartError';
    this.exitCode = exitCode;
  }
}

const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));
export const EMBEDDED_STORE_JAR = join(PROJECT_ROOT, 'embedded-store', 'target', 'embedded-store.jar');

/** Exit codes of embedded-store/ (see EmbeddedStore.java). */
const EXIT_UNWRITABLE = 3;
const EXIT_DISK_FULL = 4;
const RESTART_BACKOFF_MS = [250, 500, 1000, 2000, 5000];
/** A store that stayed up this long starts its next backoff from the beginning. */
const STABLE_AFTER_MS = 30_000;

/** @type {StoreState} */
const ALWAYS_UP = Object.freeze({ status: 'up', reason: null, detail: null, restarts: 0 });

/**
 * @param {MongoStoreOptions} options
 * @returns {Promise<MongoStore>}
 */
export async function resolveMongoStore(options) {
  if (options.uri) {
    return {
      uri: options.uri,
      kind: 'external',
      description: `MONGODB_URI (${redactUri(options.uri)})`,
      state: () => ALWAYS_UP,
      onStateChange: () => () => {},
      stop: async () => {},
    };
  }
  const mongod = options.mongodBinary ?? process.env.MONGOD_BINARY ?? findOnPath('mongod');
  if (mongod) {
    return startMongod(mongod, options);
  }
  return startJavaStore(options);
}

/**
 * @param {string} binary
 * @param {MongoStoreOptions} options
 * @returns {Promise<MongoStore>}
 */
async function startMongod(binary, options) {
  const { persistence } = options;
  const dbPath =
    persistence === 'memory' ? mkdtempSync(join(tmpdir(), 'wms-chat-mongod-')) : ensureDir(resolve(persistence.dataDir, 'mongod'));
  const port = await freePort();
  const child = spawn(binary, ['--dbpath', dbPath, '--port', String(port), '--bind_ip', '127.0.0.1', '--quiet'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr = collectStderr(child);
  await waitForPort(port, child, options.startTimeoutMs ?? 60_000, () => `mongod (${binary}) failed to start: ${stderr() || 'no output'}`);
  return {
    uri: `mongodb://127.0.0.1:${port}`,
    kind: 'mongod',
    description: `mongod (${binary}) at 127.0.0.1:${port}, data in ${dbPath}`,
    state: () => ALWAYS_UP,
    onStateChange: () => () => {},
    stop: async () => {
      await stopChild(child, () => child.kill('SIGTERM'));
      if (persistence === 'memory') rmSync(dbPath, { recursive: true, force: true });
    },
  };
}

/**
 * @param {MongoStoreOptions} options
 * @returns {Promise<MongoStore>}
 */
async function startJavaStore(options) {
  if (!existsSync(EMBEDDED_STORE_JAR)) {
    throw new Error(
      `Embedded store not built: ${EMBEDDED_STORE_JAR} is missing. Run "node scripts/build-embedded-store.js" (needs Java 17+ and Maven), or set MONGODB_URI.`,
    );
  }
  const { persistence } = options;
  const log = options.log ?? ((level, message) => process.stderr.write(`[embedded-store] ${level}: ${message}\n`));
  const file = persistence === 'memory' ? undefined : dataFile(resolve(persistence.dataDir, 'embedded-store'));
  const launch = (/** @type {number} */ port) =>
    launchJavaStore({ file, port, minFreeMb: options.minFreeMb ?? 64, timeoutMs: options.startTimeoutMs ?? 60_000 });

  const first = await launch(0);
  const port = first.port;
  /** @type {StoreState} */
  let state = { status: 'up', reason: null, detail: null, restarts: 0 };
  /** @type {Set<(state: StoreState) => void>} */
  const listeners = new Set();
  let child = first.child;
  let stopping = false;
  let upSince = Date.now();
  let attempt = 0;
  /** @type {NodeJS.Timeout | undefined} */
  let restartTimer;
  /** @type {Promise<void> | undefined} a restart in progress */
  let relaunch;

  const setState = (/** @type {StoreState} */ next) => {
    state = next;
    for (const listener of listeners) listener(state);
  };
  const watch = (/** @type {import('node:child_process').ChildProcess} */ running, /** @type {() => string} */ stderr) => {
    running.once('exit', (code, signal) => {
      if (stopping) return;
      const detail = stderr().split('\n').filter(Boolean).pop() ?? null;
      const reason = code === EXIT_DISK_FULL ? 'disk-full' : 'exited';
      log(
        'error',
        `the embedded store stopped (${signal ?? `exit code ${code}`})${detail ? `: ${detail}` : ''}; restarting it on the same data`,
      );
      if (Date.now() - upSince > STABLE_AFTER_MS) attempt = 0;
      setState({ status: 'restarting', reason, detail, restarts: state.restarts + 1 });
      scheduleRestart();
    });
  };
  const scheduleRestart = () => {
    const delay = RESTART_BACKOFF_MS[Math.min(attempt, RESTART_BACKOFF_MS.length - 1)];
    attempt += 1;
    restartTimer = setTimeout(() => {
      relaunch = launch(port).then(
        (next) => {
          // When stopping meanwhile, stop() waits for this launch and then stops the new child.
          child = next.child;
          if (stopping) return;
          upSince = Date.now();
          watch(next.child, next.stderr);
          log('info', `the embedded store is back on port ${port} (restart ${state.restarts})`);
          setState({ status: 'up', reason: null, detail: null, restarts: state.restarts });
        },
        (/** @type {Error} */ error) => {
          if (stopping) return;
          const exitCode = error instanceof StoreStartError ? error.exitCode : null;
          const reason = exitCode === EXIT_DISK_FULL ? 'disk-full' : exitCode === EXIT_UNWRITABLE ? 'unwritable' : 'exited';
          log('warn', `the embedded store could not restart yet: ${error.message}`);
          setState({ status: 'restarting', reason, detail: error.message, restarts: state.restarts });
          scheduleRestart();
        },
      );
    }, delay);
  };
  watch(first.child, first.stderr);

  return {
    uri: `mongodb://127.0.0.1:${port}`,
    kind: 'mongo-java-server',
    description: `embedded mongo-java-server at 127.0.0.1:${port}, ${file ? `data in ${file} (durable: each write is synced before it is acknowledged)` : 'in memory'}`,
    state: () => state,
    onStateChange: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    // Closing its stdin is the store's signal to commit and exit.
    stop: async () => {
      stopping = true;
      clearTimeout(restartTimer);
      await relaunch;
      await stopChild(child, () => child.stdin?.end());
      setState({ status: 'stopped', reason: null, detail: null, restarts: state.restarts });
    },
  };
}

/**
 * Checks the data directory before the store opens it: a store on a file it cannot write would
 * acknowledge writes and lose them.
 * @param {string} directory
 * @returns {string} the data file
 */
function dataFile(directory) {
  const file = join(directory, 'chat.mv.db');
  try {
    ensureDir(directory);
    accessSync(directory, constants.W_OK);
    if (existsSync(file)) accessSync(file, constants.R_OK | constants.W_OK);
  } catch (error) {
    const uid = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
    throw new StoreStartError(
      `The embedded store's data ${existsSync(file) ? `file ${file}` : `directory ${directory}`} is not writable by this user${uid}: ` +
        `${/** @type {Error} */ (error).message}. Writes would be acknowledged and then lost, so the app does not start. ` +
        `Fix: make ${directory} and its files writable by this user (e.g. chown -R $(id -u) ${directory}), or set DATA_DIR to a writable directory.`,
    );
  }
  return file;
}

/**
 * @param {{ file: string | undefined, port: number, minFreeMb: number, timeoutMs: number }} options
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, port: number, stderr: () => string }>}
 */
async function launchJavaStore({ file, port, minFreeMb, timeoutMs }) {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const args = [
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-jar',
    EMBEDDED_STORE_JAR,
    ...(file ? ['--file', file] : ['--memory']),
    '--port',
    String(port),
    '--min-free-mb',
    String(minFreeMb),
  ];
  const child = spawn(java, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr = collectStderr(child);
  /** @type {number} */
  const listening = await new Promise((resolvePort, reject) => {
    /** @param {Error} error */
    const fail = (error) => {
      clearTimeout(timer);
      reject(error);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`Embedded store did not start within ${timeoutMs} ms: ${stderr() || 'no output'}`));
    }, timeoutMs);
    createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) }).on('line', (line) => {
      const match = /^LISTENING (\d+)$/.exec(line);
      if (match) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolvePort(Number(match[1]));
      }
    });
    child.once('error', (error) =>
      fail(new Error(`Cannot run ${java}: ${error.message}. The embedded store needs Java 17+; or set MONGODB_URI.`)),
    );
    child.once('exit', (code) => fail(new StoreStartError(`Embedded store exited with code ${code}: ${stderr() || 'no output'}`, code)));
  });
  return { child, port: listening, stderr };
}

/**
 * @param {import('node:child_process').ChildProcess} child
 * @param {() => void} ask
 * @returns {Promise<void>}
 */
function stopChild(child, ask) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(killer);
      done();
    });
    ask();
  });
}

/**
 * @param {import('node:child_process').ChildProcess} child
 * @returns {() => string}
 */
function collectStderr(child) {
  let output = '';
  child.stderr?.on('data', (/** @type {Buffer} */ chunk) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  });
  return () => output.trim();
}

/**
 * @param {number} port
 * @param {import('node:child_process').ChildProcess} child
 * @param {number} timeoutMs
 * @param {() => string} explain
 * @returns {Promise<void>}
 */
function waitForPort(port, child, timeoutMs, explain) {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  return new Promise((done, fail) => {
    const attempt = () => {
      if (exited) return fail(new Error(explain()));
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        done();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) fail(new Error(explain()));
        else setTimeout(attempt, 200);
      });
    };
    attempt();
  });
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? done(address.port) : fail(new Error('no free port'))));
    });
  });
}

/**
 * @param {string} name
 * @returns {string | undefined}
 */
function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      if (statSync(join(dir, name)).isFile()) return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * @param {string} path
 * @returns {string}
 */
function ensureDir(path) {
  mkdirSync(path, { recursive: true });
  return path;
}

/**
 * @param {string} start
 * @returns {string}
 */
function findProjectRoot(start) {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

/**
 * Hides credentials before a URI reaches a log line.
 * @param {string} uri
 * @returns {string}
 */
export function redactUri(uri) {
  return uri.replace(/\/\/([^@/]+)@/, '//***@');
}
