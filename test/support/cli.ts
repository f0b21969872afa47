import { spawn } from 'node:child_process';
import { join } from 'node:path';

const CLI_TIMEOUT_MS = 120_000;

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs one of the built command-line tools (`dist/src/...cli.js`, relative to the project) against
 * the suite's store and the database `dbName`, with `env` on top, as an operator would run it.
 */
export function runCli(script: string, dbName: string, args: string[] = [], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const environment: NodeJS.ProcessEnv = {
    ...process.env,
    MONGODB_URI: process.env.TEST_MONGODB_URI,
    MONGODB_DB_NAME: dbName,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    ...env,
  };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete environment[name];
  return new Promise((resolve, reject) => {
    // A tool that hangs is killed (with a store it started: its own process group) rather than outliving the test.
    const child = spawn(process.execPath, [join(process.cwd(), script), ...args], {
      env: environment,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, CLI_TIMEOUT_MS);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
