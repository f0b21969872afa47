import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setPriority, tmpdir } from 'node:os';
import { sep } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Extraction } from './extractors.js';
import { ProcessingFailure, type ProcessingFailureCode } from './processing-failure.js';

/** What one parser run is asked to do; handed to the child process as its argument. */
export interface ParserJob {
  mimeType: string;
  fileSize: number;
  maxChars: number;
  /** Bytes the file may have, and may unpack to. */
  maxBytes: number;
  maxPixels: number;
  tesseractBinary: string;
  /** The sandbox's deadline, so the child can fit optional work (OCR) within it. */
  timeoutMs: number;
}

/** Messages from the child, in order: `started` once its code is loaded, then exactly one answer. */
export type ParserMessage =
  | { type: 'started' }
  | { type: 'done'; extraction: Extraction }
  | { type: 'failure'; code: ProcessingFailureCode; message: string }
  | { type: 'error'; message: string };

export type ParserKillCode = 'PARSER_MEMORY_LIMIT' | 'PARSER_TIMEOUT' | 'PARSER_CRASHED';

/** The parser was stopped by a limit, or died: no answer about the file. */
export class ParserKilled extends Error {
  constructor(
    readonly code: ParserKillCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The parser process did not start in time (a loaded machine): nothing is known about the file,
 * so this is not counted against it; the processor retries it like any transient failure.
 */
export class ParserDidNotStart extends Error {
  constructor(detail: string) {
    super(`The file reader did not start: ${detail}`);
  }
}

/** The sandbox was shut down (the app is stopping) while the parser ran: nothing is known about the file. */
export class ParserStopped extends Error {
  constructor() {
    super('The parser was stopped because the service is shutting down');
  }
}

export interface SandboxLimits {
  /** The child's JavaScript heap limit and, where the OS reports it (Linux), its resident memory limit. */
  memoryMb: number;
  /** Wall-clock time from the moment the child starts parsing. */
  timeoutMs: number;
}

export interface SandboxOptions {
  /** The child's entry point (tests substitute a misbehaving one); the built parser-child.js by default. */
  script?: string;
  /** Called when a run ends with a kill, for logs. */
  onKill?: (code: ParserKillCode, detail: string) => void;
  /** How long a child may take to load before it announces its start (20 s; tests shorten it). */
  startupTimeoutMs?: number;
}

/** How long a child may take to load its code; a machine this slow is not the file's fault. */
const STARTUP_MS = 20_000;
/** How long after a child's exit its IPC channel and pipes may take to close. */
const DRAIN_GRACE_MS = 1_000;
/** Between asking a child to stop (it stops Tesseract) and killing it. */
const STOP_GRACE_MS = 250;
/** How often a child's resident memory is read: an allocation faster than this can overshoot the limit briefly. */
const MEMORY_POLL_MS = 100;
const STDERR_TAIL = 8 * 1024;
/** Parsing is background work: the API process goes first when the CPU is busy. */
const CHILD_NICENESS = 10;
const OUT_OF_MEMORY = /heap out of memory|Reached heap limit|allocation failed|Cannot allocate memory|std::bad_alloc/i;

/**
 * Runs parsers (pdf.js, mammoth, sharp/libvips, music-metadata, Tesseract) in a child process per
 * file, so that no file can block the API's event loop, exhaust its heap, or crash it. The child
 * gets the file on stdin and answers over IPC; it is killed when it passes its memory limit (V8
 * heap limit, plus its resident set polled from /proc on Linux, which covers buffers and libvips)
 * or its deadline, and any other death is reported as a crash. It runs with a minimal
 * environment (no secrets, no NODE_OPTIONS), in the temp directory, at a lower CPU priority.
 * The caller bounds how many run at once.
 */
export class ParserSandbox {
  private readonly script: string;
  /** Running children, each with what stops it at shutdown. */
  private readonly running = new Map<ChildProcess, () => void>();
  private stopped = false;

  constructor(
    private readonly limits: SandboxLimits,
    private readonly options: SandboxOptions = {},
  ) {
    this.script = options.script ?? parserChildScript();
  }

  /** Whether the child's code is there (a build without it would fail every file). */
  isAvailable(): boolean {
    return existsSync(this.script);
  }

  /** Children running now (at most the processor's concurrency). */
  get size(): number {
    return this.running.size;
  }

  /**
   * Parses `input` (the stored file, streamed to the child). Resolves with the extraction;
   * rejects with the parser's ProcessingFailure (a damaged or hostile file), ParserKilled (a
   * limit or a crash), ParserStopped (shutdown), or the input's own error (storage).
   */
  run(job: ParserJob, input: Readable): Promise<Extraction> {
    if (this.stopped) {
      input.destroy();
      return Promise.reject(new ParserStopped());
    }
    if (!this.isAvailable()) {
      input.destroy();
      return Promise.reject(new Error(`The parser's code is missing (${this.script}): build the app`));
    }
    return new Promise<Extraction>((resolve, reject) => {
      const child = fork(this.script, [JSON.stringify(job)], {
        execArgv: [`--max-old-space-size=${this.limits.memoryMb}`, '--disallow-code-generation-from-strings'],
        env: childEnvironment(),
        cwd: tmpdir(),
        stdio: ['pipe', 'ignore', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
      let answer: Exclude<ParserMessage, { type: 'started' }> | undefined;
      let killedFor: ParserKillCode | 'stopped' | 'no-start' | undefined;
      let killDetail = '';
      let inputError: Error | undefined;
      let stderr = '';
      let finished = false;
      let deadline: NodeJS.Timeout | undefined;
      let lingering: NodeJS.Timeout | undefined;
      let drained: NodeJS.Timeout | undefined;
      const exited = () => child.exitCode !== null || child.signalCode !== null;

      const kill = (reason: ParserKillCode | 'stopped' | 'no-start', detail: string, now = false) => {
        if (killedFor !== undefined || answer !== undefined || exited()) return;
        killedFor = reason;
        killDetail = detail;
        if (now) {
          child.kill('SIGKILL');
          return;
        }
        // SIGTERM first lets a child waiting on Tesseract stop it; one stuck in a loop is killed after the grace.
        child.kill('SIGTERM');
        lingering = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      };
      const startupMs = this.options.startupTimeoutMs ?? STARTUP_MS;
      const startup = setTimeout(() => kill('no-start', `it did not start within ${formatSeconds(startupMs)}`, true), startupMs);
      const memoryPoll = setInterval(() => {
        void residentMb(child.pid).then((rssMb) => {
          if (rssMb === null) clearInterval(memoryPoll);
          else if (rssMb > this.limits.memoryMb) kill('PARSER_MEMORY_LIMIT', `it used ${Math.round(rssMb)} MB`, true);
        });
      }, MEMORY_POLL_MS);

      const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
        if (finished) return;
        finished = true;
        clearTimeout(startup);
        clearTimeout(deadline);
        clearTimeout(lingering);
        clearTimeout(drained);
        clearInterval(memoryPoll);
        this.running.delete(child);
        input.unpipe();
        input.destroy();
        if (inputError) return reject(inputError);
        if (spawnError) return reject(spawnError);
        if (answer) return settle(answer, resolve, reject);
        if (killedFor === 'stopped') return reject(new ParserStopped());
        if (killedFor === 'no-start') return reject(new ParserDidNotStart(killDetail));
        const { kind, detail } = killedFor
          ? { kind: killedFor, detail: killDetail }
          : OUT_OF_MEMORY.test(stderr)
            ? { kind: 'PARSER_MEMORY_LIMIT' as const, detail: 'it ran out of heap' }
            : { kind: 'PARSER_CRASHED' as const, detail: signal ? `it was stopped by ${signal}` : `it exited with code ${code}` };
        this.options.onKill?.(kind, stderr ? `${detail}; stderr: ${stderr.slice(0, 500)}` : detail);
        reject(new ParserKilled(kind, killMessage(kind, this.limits)));
      };

      this.running.set(child, () => kill('stopped', 'shutdown', true));
      try {
        if (child.pid !== undefined) setPriority(child.pid, CHILD_NICENESS);
      } catch {
        // Not permitted here: the child runs at normal priority.
      }
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
      });
      child.on('message', (message: ParserMessage) => {
        if (message.type === 'started') {
          // Only the first one starts the clock: a child cannot buy itself more time.
          clearTimeout(startup);
          deadline ??= setTimeout(
            () => kill('PARSER_TIMEOUT', `it took longer than ${formatSeconds(this.limits.timeoutMs)}`),
            this.limits.timeoutMs,
          );
          return;
        }
        answer ??= message;
        // The child exits once its answer is sent; one that lingers is not waited for.
        lingering ??= setTimeout(() => child.kill('SIGKILL'), 2_000);
      });
      // 'exit' can come before the IPC channel has delivered the child's last message (the
      // answer it sent just before exiting): the run is judged on 'close', once the channel and
      // the pipes are drained, and only a child whose pipes stay open (held by a grandchild) is
      // judged on its exit after a grace.
      child.on('exit', (code, signal) => {
        drained = setTimeout(() => finish(code, signal), DRAIN_GRACE_MS);
      });
      child.on('close', (code, signal) => finish(code, signal));
      child.on('error', (error) => {
        // Spawning failed: no 'exit' follows.
        if (child.pid === undefined) finish(null, null, error);
      });
      child.stdin?.on('error', () => {
        // The child stopped reading (it has what it needs, or it died): its answer or its exit says which.
      });
      input.on('error', (error) => {
        inputError = error;
        kill('stopped', 'the file could not be read', true);
      });
      if (child.stdin) input.pipe(child.stdin);
    });
  }

  /** Kills every running child (their runs reject with ParserStopped) and refuses new runs. */
  stop(): void {
    this.stopped = true;
    for (const stop of this.running.values()) stop();
  }
}

/** What a user is told; limits are named so an operator knows which to raise. */
function killMessage(code: ParserKillCode, limits: SandboxLimits): string {
  switch (code) {
    case 'PARSER_MEMORY_LIMIT':
      return `Reading the file needed more than ${limits.memoryMb} MB of memory; it is stored but was not read`;
    case 'PARSER_TIMEOUT':
      return `Reading the file took longer than ${formatSeconds(limits.timeoutMs)}; it is stored but was not read`;
    case 'PARSER_CRASHED':
      return 'The file reader stopped unexpectedly on this file; it is stored but was not read';
  }
}

function settle(
  answer: Exclude<ParserMessage, { type: 'started' }>,
  resolve: (extraction: Extraction) => void,
  reject: (error: Error) => void,
): void {
  switch (answer.type) {
    case 'done':
      // The child is not trusted with the shape of what it sends back.
      if (!isExtraction(answer.extraction))
        return reject(new ParserKilled('PARSER_CRASHED', 'The file reader sent back something unreadable'));
      return resolve(withBuffers(answer.extraction));
    case 'failure':
      return reject(new ProcessingFailure(answer.code, answer.message));
    case 'error':
      return reject(new Error(answer.message));
  }
}

function isExtraction(value: unknown): value is Extraction {
  if (typeof value !== 'object' || value === null) return false;
  const { extractedText, metadata, thumbnail, replacement } = value as Record<string, unknown>;
  const isObject = (candidate: unknown): candidate is Record<string, unknown> =>
    typeof candidate === 'object' && candidate !== null && !Array.isArray(candidate);
  if (extractedText !== null && typeof extractedText !== 'string') return false;
  if (!isObject(metadata) || Object.keys(metadata).some((key) => key.startsWith('$') || key.includes('.'))) return false;
  if (replacement !== undefined && !ArrayBuffer.isView(replacement)) return false;
  if (thumbnail === undefined) return true;
  return (
    isObject(thumbnail) &&
    ArrayBuffer.isView(thumbnail.bytes) &&
    typeof thumbnail.mimeType === 'string' &&
    Number.isInteger(thumbnail.width) &&
    Number.isInteger(thumbnail.height)
  );
}

/** Byte arrays arrive as Uint8Array through structured clone; the rest of the code works with Buffers. */
function withBuffers(extraction: Extraction): Extraction {
  const buffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    ...extraction,
    ...(extraction.thumbnail ? { thumbnail: { ...extraction.thumbnail, bytes: buffer(extraction.thumbnail.bytes) } } : {}),
    ...(extraction.replacement ? { replacement: buffer(extraction.replacement) } : {}),
  };
}

/** The child's environment: what Tesseract and libvips need, nothing of the app's (no secrets, no NODE_OPTIONS). */
function childEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { OMP_THREAD_LIMIT: '1', LANG: process.env.LANG ?? 'C.UTF-8' };
  for (const name of ['PATH', 'TESSDATA_PREFIX', 'TMPDIR']) {
    if (process.env[name] !== undefined) env[name] = process.env[name];
  }
  return env;
}

/** Resident memory of a process in MB (Linux /proc), or null where the OS does not say. */
async function residentMb(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function formatSeconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

/**
 * The child's entry point: parser-child.js beside this file, or, when this file is loaded from
 * the TypeScript sources (as the test suite does), the build's copy under dist/.
 */
export function parserChildScript(): string {
  const beside = fileURLToPath(new URL('./parser-child.js', import.meta.url));
  if (existsSync(beside)) return beside;
  const parts = beside.split(sep);
  const src = parts.lastIndexOf('src');
  return src < 0 ? beside : [...parts.slice(0, src), 'dist', ...parts.slice(src)].join(sep);
}
