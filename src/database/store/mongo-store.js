// Plain JavaScript on purpose: Jest's global setup loads this before any TypeScript transform
// runs, and the app imports the same file, so tests and production resolve the store one way.
// Types are JSDoc, checked by tsc (allowJs + checkJs).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Where the app's data lives. `MONGODB_URI` always wins; without it the app starts a store of its
 * own: a real `mongod` when one is on PATH (or named by MONGOD_BINARY), else the embedded
 * MongoDB wire-compatible server (mongo-java-server) built from embedded-store/.
 *
 * @typedef {object} MongoStore
 * @property {string} uri
 * @property {'external' | 'mongod' | 'mongo-java-server'} kind
 * @property {string} description One line for logs: which store, where its data is.
 * @property {() => Promise<void>} stop
 */

/**
 * @typedef {object} MongoStoreOptions
 * @property {string} [uri]
 * @property {'memory' | { dataDir: string }} persistence `memory` for tests: nothing outlives stop().
 * @property {string} [mongodBinary]
 * @property {number} [startTimeoutMs]
 */

const PROJECT_ROOT = findProjectRoot(dirname(fileURLToPath(import.meta.url)));
export const EMBEDDED_STORE_JAR = join(PROJECT_ROOT, 'embedded-store', 'target', 'embedded-store.jar');

/**
 * @param {MongoStoreOptions} options
 * @returns {Promise<MongoStore>}
 */
export async function resolveMongoStore(options) {
  if (options.uri) {
    return { uri: options.uri, kind: 'external', description: `MONGODB_URI (${redactUri(options.uri)})`, stop: async () => {} };
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
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const file = persistence === 'memory' ? undefined : join(ensureDir(resolve(persistence.dataDir, 'embedded-store')), 'chat.mv.db');
  const args = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-jar', EMBEDDED_STORE_JAR, ...(file ? ['--file', file] : ['--memory'])];
  const child = spawn(java, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr = collectStderr(child);
  /** @type {number} */
  const port = await new Promise((resolvePort, reject) => {
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
    child.once('exit', (code) => fail(new Error(`Embedded store exited with code ${code}: ${stderr() || 'no output'}`)));
  });
  return {
    uri: `mongodb://127.0.0.1:${port}`,
    kind: 'mongo-java-server',
    description: `embedded mongo-java-server at 127.0.0.1:${port}, ${file ? `data in ${file}` : 'in memory'}`,
    // Closing its stdin is the store's signal to flush and exit.
    stop: () => stopChild(child, () => child.stdin?.end()),
  };
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
