import { INestApplication, INestApplicationContext, VersioningType } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { DASHBOARD_PATH, dashboardPage } from './analytics/dashboard-page.js';
import { AppModule, AppModuleOptions } from './app.module.js';
import type { AppConfig } from './common/config/app-config.js';
import { methodNotAllowedMiddleware } from './common/http/method-not-allowed.js';
import { forbidUndeclaredBodyProperties, listNullInNullableEnums } from './common/openapi/strict-request-bodies.js';
import { declareValidationRules } from './common/openapi/validation-rules.js';
import { jsonGuardMiddleware } from './common/validation/untrusted-json.js';
import { JSON_CONTENT_TYPES, jsonBodiesOnly } from './common/http/json-bodies-only.js';
import { TRUSTED_PROXIES } from './common/http/client-address.js';
import { createValidationPipe } from './common/validation/validation.pipe.js';
import { AppMetrics } from './metrics/app-metrics.js';
import { httpMetricsMiddleware } from './metrics/http-metrics.middleware.js';
import { METRICS_PATH, documentMetricsEndpoint, metricsEndpoint } from './metrics/metrics-endpoint.js';
import { RealtimeIoAdapter } from './realtime/realtime-io.adapter.js';
import { resolveMongoStore, type MongoStore } from './database/store/mongo-store.js';

export const API_DOCS_PATH = 'api/docs';

/**
 * Builds the HTTP application exactly as production runs it; tests call this too, so what they
 * exercise is the real pipeline (prefix, versioning, pipes, filter, body limit, docs).
 */
export async function createApp(options: AppModuleOptions): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(options), {
    bodyParser: false,
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  // First, so every request is timed, those refused before routing included.
  const metrics = app.get(AppMetrics);
  app.use(httpMetricsMiddleware(metrics));
  // Beside the API, where Prometheus looks by default (a Nest route would also answer under /v1).
  app.getHttpAdapter().getInstance().get(METRICS_PATH, metricsEndpoint(metrics, options.config.metrics.token));
  // The analytics dashboard page: static files that call the API with a pasted token.
  app.getHttpAdapter().getInstance().use(DASHBOARD_PATH, dashboardPage(options.config.chat.enableAnalytics));
  // Bodies of any other type would be dropped unread: 415 instead. Uploads stream multipart themselves.
  app.use(
    jsonBodiesOnly({ multipartPaths: [/^\/api\/v\d+\/chat\/messages\/[^/]+\/attachments$/, /^\/api\/v\d+\/chat\/admin\/import\/legacy$/] }),
  );
  app.useBodyParser('json', { limit: options.config.http.bodyLimit, type: JSON_CONTENT_TYPES });
  // Depth, prototype keys, NUL: checked once the JSON is parsed, before anything walks it recursively.
  app.use(jsonGuardMiddleware);
  app.set('query parser', 'simple');
  app.set('trust proxy', TRUSTED_PROXIES);
  app.disable('x-powered-by');
  app.setGlobalPrefix('api', { exclude: [] });
  app.enableVersioning({ type: VersioningType.URI, defaultVersion: '1' });
  app.useGlobalPipes(createValidationPipe());
  if (options.config.http.corsOrigins.length > 0) {
    app.enableCors({ origin: options.config.http.corsOrigins, exposedHeaders: ['x-request-id'] });
  }
  // After CORS, so preflights are answered by it; before the routes, which it reads on first use.
  app.use(methodNotAllowedMiddleware(app));
  if (options.config.websockets.enabled) {
    const adapter = new RealtimeIoAdapter(app, options.config);
    await adapter.connectRedis();
    app.useWebSocketAdapter(adapter);
  }
  setUpApiDocs(app, options.config);
  return app;
}

function setUpApiDocs(app: INestApplication, config: AppConfig): void {
  const disabled = [
    config.chat.enableFileUploads
      ? null
      : 'File uploads are turned off on this deployment (CHAT_ENABLE_FILE_UPLOADS=false): the attachment routes are not served.',
    config.compliance.enableChatExport
      ? null
      : 'Conversation exports are turned off on this deployment (ENABLE_CHAT_EXPORT=false): the export routes are not served.',
  ].filter((line): line is string => line !== null);
  // The document states the rules the ValidationPipe enforces: derived from the same decorators.
  declareValidationRules();
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('WMS chat history API')
      .setDescription(
        'Chat history for the role-based warehouse chatbot. Every route needs a bearer JWT (HS256 or RS256) whose `sub` is the user id ' +
          'and whose `roles` lists WMS roles. Errors share one body: `{ statusCode, error, code, message, details? }`; every answer carries `x-request-id`.' +
          disabled.map((line) => `\n\n**${line}**`).join(''),
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
      .build(),
  );
  forbidUndeclaredBodyProperties(document);
  listNullInNullableEnums(document);
  declareConfiguredLimits(document, config);
  documentMetricsEndpoint(document, config.metrics.token !== undefined);
  SwaggerModule.setup(API_DOCS_PATH, app, document, { jsonDocumentUrl: `${API_DOCS_PATH}-json` });
}

/** Limits that come from configuration rather than from a decorator. */
function declareConfiguredLimits(document: OpenAPIObject, config: AppConfig): void {
  const schemas = (document.components?.schemas ?? {}) as Record<string, { properties?: Record<string, Record<string, unknown>> }>;
  for (const name of ['SendMessageDto', 'CreateMessageDto']) {
    const content = schemas[name]?.properties?.content;
    if (content) Object.assign(content, { minLength: 1, maxLength: config.chat.maxMessageLength, pattern: '\\S' });
  }
  for (const item of Object.values(document.paths)) {
    const upload = (
      item.post?.requestBody as { content?: Record<string, { schema?: { properties?: Record<string, object> } }> } | undefined
    )?.content?.['multipart/form-data']?.schema?.properties?.file;
    if (upload) Object.assign(upload, { maxItems: config.attachments.maxFilesPerUpload });
  }
}

/**
 * For the command-line tools that work through the app's services: the application context (no
 * HTTP, jobs registered but never fired by themselves) on the store `npm start` would use
 * (MONGODB_URI, else mongod on PATH, else the embedded store in DATA_DIR); runs `work`, then
 * closes the context and stops a store it started.
 */
export async function withAppContext<T>(
  config: AppConfig,
  work: (app: INestApplicationContext, store: MongoStore) => Promise<T>,
): Promise<T> {
  const store = await resolveMongoStore({ uri: config.mongo.uri, persistence: { dataDir: config.mongo.dataDir } });
  try {
    const app = await NestFactory.createApplicationContext(
      AppModule.forRoot({
        config,
        database: { uri: store.uri, dbName: config.mongo.dbName, serverSelectionTimeoutMs: config.mongo.serverSelectionTimeoutMs, store },
        scheduleJobs: false,
      }),
      { logger: ['error'] },
    );
    try {
      return await work(app, store);
    } finally {
      await app.close();
    }
  } finally {
    await store.stop();
  }
}
