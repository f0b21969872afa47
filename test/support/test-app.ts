import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { getConnectionToken } from '@nestjs/mongoose';
import jwt from 'jsonwebtoken';
import type { DestinationStream } from 'pino';
import type mongoose from 'mongoose';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { createApp } from '../../src/bootstrap.js';
import { loadAppConfig } from '../../src/common/config/app-config.js';
import { StoreStatus } from '../../src/database/store-status.js';

export const TEST_JWT_SECRET = 'test-secret-for-the-suite-only-0123456789';

export interface TestApp {
  app: NestExpressApplication;
  /** supertest bound to the app's HTTP server */
  http: () => TestAgent;
  db: mongoose.mongo.Db;
  /** A signed HS256 token for `sub` with `roles`. */
  token(sub: string, roles?: string[], claims?: Record<string, unknown>, options?: jwt.SignOptions): string;
  /** Starts listening on a loopback port (once) and returns it, for clients other than supertest. */
  port(): Promise<number>;
  /** `Authorization` header for `sub` with `roles`. */
  auth(sub: string, roles?: string[]): { Authorization: string };
  close(): Promise<void>;
}

/**
 * Boots the real application (same pipeline as production) against the suite's store, in a
 * database of its own, with migrations applied at boot as in production.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  options: { logDestination?: DestinationStream; dbName?: string } = {},
): Promise<TestApp> {
  const uri = process.env.TEST_MONGODB_URI;
  if (!uri) throw new Error('TEST_MONGODB_URI is not set: run the suite with npm test');
  const config = loadAppConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
  const dbName = options.dbName ?? `test_${randomBytes(6).toString('hex')}`;
  const app = await createApp({ config, database: { uri, dbName }, logDestination: options.logDestination });
  await app.init();
  await untilReady(app.get(StoreStatus));
  const connection = app.get<mongoose.Connection>(getConnectionToken());
  const token = (
    sub: string,
    roles: string[] = ['warehouse_operator'],
    claims: Record<string, unknown> = {},
    options: jwt.SignOptions = {},
  ) => jwt.sign({ sub, roles, ...claims }, TEST_JWT_SECRET, { algorithm: 'HS256', expiresIn: '1h', ...options });
  let listening: Promise<number> | undefined;
  return {
    app,
    http: () => request(app.getHttpServer()),
    port: () => (listening ??= app.listen(0, '127.0.0.1').then(() => (app.getHttpServer().address() as AddressInfo).port)),
    db: connection.db!,
    token,
    auth: (sub, roles) => ({ Authorization: `Bearer ${token(sub, roles)}` }),
    close: async () => {
      await connection.dropDatabase();
      await app.close();
    },
  };
}

/** How long a test app may take to become ready (a loaded machine can miss the first connection attempt; the app retries after 1 s). */
const READY_WITHIN_MS = 30_000;

/**
 * Waits until the app can serve (connected, migrated), as an orchestrator waits for readiness before
 * sending traffic; after READY_WITHIN_MS the test goes on and its requests answer 503 with the reason.
 */
async function untilReady(status: StoreStatus): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  while (!status.availability().available && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}
