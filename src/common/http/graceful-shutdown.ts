import type { Server } from 'node:http';
import type { INestApplication, LoggerService } from '@nestjs/common';

export interface GracefulShutdownOptions {
  timeoutMs: number;
  logger: LoggerService;
  /** Runs after the app has closed: stops what outlives it (the store this process started). */
  afterClose: () => Promise<void>;
}

const DRAIN_POLL_MS = 50;

/**
 * Stops on SIGTERM/SIGINT in order, within a deadline: stop accepting connections; answer what is
 * in flight (busy keep-alive connections are told `Connection: close` and idle ones are closed);
 * close the app (sockets disconnected, jobs and in-flight replies finished or stopped, the
 * database connection closed); then stop the store, last. Past the deadline the process exits
 * anyway, with code 1. Must be installed before the server listens, so every request is counted.
 */
export function installGracefulShutdown(app: INestApplication, options: GracefulShutdownOptions): void {
  const server = app.getHttpServer() as Server;
  let inFlight = 0;
  let stopping = false;
  server.on('request', (request, response) => {
    inFlight += 1;
    if (stopping) response.setHeader('Connection', 'close');
    response.once('close', () => {
      inFlight -= 1;
    });
  });

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const deadline = Date.now() + options.timeoutMs;
    const forced = setTimeout(() => {
      options.logger.error(`shutdown did not finish within ${options.timeoutMs} ms (SHUTDOWN_TIMEOUT_MS); exiting now`, 'Shutdown');
      process.exit(1);
    }, options.timeoutMs);
    forced.unref();
    options.logger.log(`${signal} received: draining ${inFlight} request(s), then stopping`, 'Shutdown');

    server.close();
    server.closeIdleConnections();
    // Keep-alive connections that finish a response become idle: close them as they do.
    while (inFlight > 0 && Date.now() < deadline) {
      await new Promise((wake) => setTimeout(wake, DRAIN_POLL_MS));
      server.closeIdleConnections();
    }
    try {
      await app.close();
      await options.afterClose();
    } catch (error) {
      options.logger.error(`shutdown failed: ${(error as Error).stack ?? String(error)}`, 'Shutdown');
      process.exit(1);
    }
    options.logger.log('stopped', 'Shutdown');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}
