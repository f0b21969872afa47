import { spawn } from 'node:child_process';
import { join } from 'node:path';

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
    const child = spawn(process.execPath, [join(process.cwd(), script), ...args], { env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
