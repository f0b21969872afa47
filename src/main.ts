import { Logger } from 'nestjs-pino';
import { createApp } from './bootstrap.js';
import { ConfigValidationError, loadAppConfig } from './common/config/app-config.js';
import { installGracefulShutdown } from './common/http/graceful-shutdown.js';
import { resolveMongoStore, StoreStartError } from './database/store/mongo-store.js';

async function main(): Promise<void> {
  const config = loadAppConfig();
  const storeLog: { write?: (level: 'info' | 'warn' | 'error', message: string) => void } = {};
  const store = await resolveMongoStore({
    uri: config.mongo.uri,
    persistence: { dataDir: config.mongo.dataDir },
    minFreeMb: config.mongo.embeddedStoreMinFreeMb,
    // The store starts before the app's logger exists; its later events go to that logger.
    log: (level, message) =>
      storeLog.write ? storeLog.write(level, message) : process.stderr.write(`[embedded-store] ${level}: ${message}\n`),
  });
  const app = await createApp({
    config,
    database: { uri: store.uri, dbName: config.mongo.dbName, serverSelectionTimeoutMs: config.mongo.serverSelectionTimeoutMs, store },
  }).catch(async (error: unknown) => {
    await store.stop();
    throw error;
  });
  const logger = app.get(Logger);
  storeLog.write = (level, message) =>
    level === 'info'
      ? logger.log(message, 'EmbeddedStore')
      : level === 'warn'
        ? logger.warn(message, 'EmbeddedStore')
        : logger.error(message, 'EmbeddedStore');
  logger.log(`MongoDB store: ${store.description}, database ${config.mongo.dbName}`, 'Bootstrap');
  if (config.auth.usingDevelopmentSecret) {
    logger.warn('JWT_SECRET is not set: using the built-in development secret. Never run like this in production.', 'Bootstrap');
  }

  installGracefulShutdown(app, { timeoutMs: config.shutdownTimeoutMs, logger, afterClose: () => store.stop() });
  await app.listen(config.http.port, config.http.host);
  logger.log(`Listening on http://${config.http.host}:${config.http.port}/api/v1 (docs at /api/docs)`, 'Bootstrap');
}

main().catch((error: unknown) => {
  // The logger may not exist yet (bad configuration), so the reason goes straight to stderr.
  process.stderr.write(
    `${error instanceof ConfigValidationError || error instanceof StoreStartError ? error.message : ((error as Error).stack ?? String(error))}\n`,
  );
  process.exit(1);
});
