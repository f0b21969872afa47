import { Logger } from 'nestjs-pino';
import { createApp } from './bootstrap.js';
import { ConfigValidationError, loadAppConfig } from './common/config/app-config.js';
import { resolveMongoStore } from './database/store/mongo-store.js';

async function main(): Promise<void> {
  const config = loadAppConfig();
  const store = await resolveMongoStore({ uri: config.mongo.uri, persistence: { dataDir: config.mongo.dataDir } });
  const app = await createApp({ config, database: { uri: store.uri, dbName: config.mongo.dbName } }).catch(async (error: unknown) => {
    await store.stop();
    throw error;
  });
  const logger = app.get(Logger);
  logger.log(`MongoDB store: ${store.description}, database ${config.mongo.dbName}`, 'Bootstrap');
  if (config.auth.usingDevelopmentSecret) {
    logger.warn('JWT_SECRET is not set: using the built-in development secret. Never run like this in production.', 'Bootstrap');
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal} received, shutting down`, 'Bootstrap');
    await app.close();
    await store.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen(config.http.port, config.http.host);
  logger.log(`Listening on http://${config.http.host}:${config.http.port}/api/v1 (docs at /api/docs)`, 'Bootstrap');
}

main().catch((error: unknown) => {
  // The logger may not exist yet (bad configuration), so the reason goes straight to stderr.
  process.stderr.write(`${error instanceof ConfigValidationError ? error.message : ((error as Error).stack ?? String(error))}\n`);
  process.exit(1);
});
