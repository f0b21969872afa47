import { ConfigValidationError, DEVELOPMENT_JWT_SECRET, loadAppConfig } from '../../src/common/config/app-config.js';

describe('loadAppConfig', () => {
  it('applies the design document’s defaults', () => {
    const config = loadAppConfig({});
    expect(config.http).toEqual({ host: '0.0.0.0', port: 3000, bodyLimit: '1mb', corsOrigins: [] });
    expect(config.chat).toEqual({
      retentionDays: 365,
      maxMessagesPerConversation: 1000,
      maxMessageLength: 32000,
      enableAnalytics: true,
      enableFileUploads: true,
      maxFileSizeMb: 10,
      cacheMaxMb: 64,
    });
    expect(config.websockets).toEqual({ enabled: true, heartbeatIntervalSeconds: 30, maxConnectionsPerUser: 20, eventsPerMinute: 600 });
    expect(config.redisUrl).toBeUndefined();
    expect(config.llm).toEqual({
      baseUrl: undefined,
      apiKey: undefined,
      model: 'gpt-4o-mini',
      timeoutMs: 60000,
      maxRetries: 2,
      playbookChunkDelayMs: 20,
    });
    expect(config.rateLimit).toEqual({ messagesPerMinute: 30 });
    expect(loadAppConfig({ LLM_BASE_URL: 'http://localhost:11434/v1/' }).llm.baseUrl).toBe('http://localhost:11434/v1');
    expect(config.compliance).toEqual({
      enableDataRetention: true,
      enableChatExport: true,
      anonymizationEnabled: false,
      retentionCron: '30 3 * * *',
      permanentDeleteGraceMinutes: 60,
      dataExportTtlHours: 72,
      auditRetentionDays: 730,
      auditHashKey: undefined,
      authFailureBurst: 20,
    });
    expect(config.mongo).toEqual({
      uri: undefined,
      dbName: 'wms_chat',
      dataDir: './data',
      runMigrationsOnBoot: true,
      serverSelectionTimeoutMs: 2000,
      embeddedStoreMinFreeMb: 64,
    });
    expect(config.shutdownTimeoutMs).toBe(10_000);
  });

  it('names the database after MONGODB_DB_NAME, else the URI, else wms_chat', () => {
    expect(loadAppConfig({ MONGODB_URI: 'mongodb://db:27017/chat_prod?replicaSet=rs0' }).mongo.dbName).toBe('chat_prod');
    expect(loadAppConfig({ MONGODB_URI: 'mongodb://a:1,b:2/?replicaSet=rs0' }).mongo.dbName).toBe('wms_chat');
    expect(loadAppConfig({ MONGODB_URI: 'mongodb://db/chat_prod', MONGODB_DB_NAME: 'other' }).mongo.dbName).toBe('other');
    expect(() => loadAppConfig({ MONGODB_DB_NAME: 'bad name' })).toThrow(/MONGODB_DB_NAME: must be a database name/);
  });

  it('reads JWT_MAX_TTL as seconds or with a unit, 24 h by default, and refuses anything else', () => {
    expect(loadAppConfig({}).auth.maxTtlSeconds).toBe(86_400);
    expect(loadAppConfig({ JWT_MAX_TTL: '3600' }).auth.maxTtlSeconds).toBe(3600);
    expect(loadAppConfig({ JWT_MAX_TTL: '90s' }).auth.maxTtlSeconds).toBe(90);
    expect(loadAppConfig({ JWT_MAX_TTL: '15m' }).auth.maxTtlSeconds).toBe(900);
    expect(loadAppConfig({ JWT_MAX_TTL: '8h' }).auth.maxTtlSeconds).toBe(28_800);
    expect(loadAppConfig({ JWT_MAX_TTL: '7d' }).auth.maxTtlSeconds).toBe(604_800);
    for (const bad of ['8 hours', '1.5h', '-1', '0', '1w', '400d', '0x10']) {
      expect(() => loadAppConfig({ JWT_MAX_TTL: bad })).toThrow(/JWT_MAX_TTL: must be a duration such as 3600, 15m, 8h or 7d/);
    }
  });

  it('falls back to the development secret outside production only', () => {
    expect(loadAppConfig({}).auth).toMatchObject({ algorithm: 'HS256', secret: DEVELOPMENT_JWT_SECRET, usingDevelopmentSecret: true });
    expect(() => loadAppConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET: JWT_SECRET or JWT_PUBLIC_KEY is required/);
  });

  it('reads typed values', () => {
    const config = loadAppConfig({
      PORT: '8080',
      CHAT_ENABLE_ANALYTICS: 'false',
      CORS_ORIGINS: 'https://wms.example, https://ops.example',
      MONGODB_URI: 'mongodb://db:27017/chat',
      JWT_SECRET: 's'.repeat(32),
      BODY_LIMIT: '512KB',
    });
    expect(config.http.port).toBe(8080);
    expect(config.chat.enableAnalytics).toBe(false);
    expect(config.http.corsOrigins).toEqual(['https://wms.example', 'https://ops.example']);
    expect(config.mongo.uri).toBe('mongodb://db:27017/chat');
    expect(config.mongo.dbName).toBe('chat');
    expect(config.http.bodyLimit).toBe('512kb');
    expect(config.auth).toMatchObject({ algorithm: 'HS256', usingDevelopmentSecret: false });
  });

  it.each([
    ['PORT', 'abc', /PORT: must be a whole number from 1 to 65535 \(got "abc"\)/],
    ['PORT', '70000', /PORT: must be a whole number/],
    ['CHAT_MAX_MESSAGES_PER_CONVERSATION', '0', /CHAT_MAX_MESSAGES_PER_CONVERSATION: must be a whole number/],
    ['CHAT_ENABLE_FILE_UPLOADS', 'yes', /CHAT_ENABLE_FILE_UPLOADS: must be true or false \(got "yes"\)/],
    ['MONGODB_URI', 'postgres://x', /MONGODB_URI: must be a MongoDB connection string/],
    ['BODY_LIMIT', 'lots', /BODY_LIMIT: must be a size/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL: must be one of/],
    ['NODE_ENV', 'staging', /NODE_ENV: must be one of development, production, test/],
    ['JWT_SECRET', 'short', /JWT_SECRET: must be at least 32 characters long/],
    ['JWT_PUBLIC_KEY', 'not a key', /JWT_PUBLIC_KEY: must be a PEM-encoded RSA public key/],
    ['REDIS_URL', 'localhost:6379', /REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/],
    ['LLM_BASE_URL', 'ftp://models.example', /LLM_BASE_URL: must be an http\(s\) URL/],
    ['LLM_TIMEOUT_MS', '5', /LLM_TIMEOUT_MS: must be a whole number from 100/],
    ['CHAT_RATE_LIMIT_PER_MINUTE', '0', /CHAT_RATE_LIMIT_PER_MINUTE: must be a whole number/],
    ['CHAT_AUDIT_HASH_KEY', 'too-short', /CHAT_AUDIT_HASH_KEY: must be at least 32 characters long/],
    ['CHAT_RETENTION_CRON', 'nightly', /CHAT_RETENTION_CRON/],
    ['CHAT_DATA_EXPORT_TTL_HOURS', '0', /CHAT_DATA_EXPORT_TTL_HOURS: must be a whole number from 1/],
  ])('refuses %s=%s, naming the variable', (name, value, message) => {
    expect(() => loadAppConfig({ [name]: value })).toThrow(message);
  });

  it('reports every bad variable at once', () => {
    try {
      loadAppConfig({ PORT: 'x', WEBSOCKET_HEARTBEAT_INTERVAL: '-1' });
      throw new Error('expected a ConfigValidationError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigValidationError);
      expect((error as ConfigValidationError).problems).toHaveLength(2);
    }
  });

  it('reads the attachment settings and refuses an unknown storage driver', () => {
    expect(loadAppConfig({ DATA_DIR: '/srv/chat' }).attachments).toEqual({
      storage: 'local',
      directory: '/srv/chat/attachments',
      userQuotaMb: 1024,
      maxFilesPerUpload: 10,
      processingConcurrency: 2,
      maxExtractedChars: 200_000,
      maxExtractionMb: 50,
      tesseractBinary: 'tesseract',
    });
    expect(loadAppConfig({ ATTACHMENT_STORAGE: 'gridfs', ATTACHMENTS_DIR: '/files' }).attachments).toMatchObject({
      storage: 'gridfs',
      directory: '/files',
    });
    expect(() => loadAppConfig({ ATTACHMENT_STORAGE: 's3' })).toThrow('ATTACHMENT_STORAGE: must be one of local, gridfs (got "s3")');
  });

  it('reads the count repair schedule: every 5 minutes after a 60 s grace by default, seconds allowed', () => {
    expect(loadAppConfig({}).jobs).toEqual({ countRepair: { cron: '*/5 * * * *', graceSeconds: 60 } });
    expect(loadAppConfig({ CHAT_COUNT_REPAIR_CRON: '*/1 * * * * *', CHAT_COUNT_REPAIR_GRACE_SECONDS: '5' }).jobs.countRepair).toEqual({
      cron: '*/1 * * * * *',
      graceSeconds: 5,
    });
    expect(loadAppConfig({ CHAT_COUNT_REPAIR_CRON: ' 0 3 * * 1 ' }).jobs.countRepair.cron).toBe('0 3 * * 1');
  });

  it.each([
    ['every 5 minutes', /Unknown alias/],
    ['*/5 * * *', /Too few fields/],
    ['* * * * * * *', /Too many fields/],
    ['61 * * * *', /out of range/],
    ['*/0 * * * *', /step of zero/],
    ['0 0 31 2 *', /it never fires/],
  ])('stops the boot on CHAT_COUNT_REPAIR_CRON=%s, naming the variable and the reason', (value, reason) => {
    let problems: string[] = [];
    try {
      loadAppConfig({ CHAT_COUNT_REPAIR_CRON: value });
    } catch (error) {
      problems = (error as ConfigValidationError).problems;
    }
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CHAT_COUNT_REPAIR_CRON: must be a cron expression of 5 fields, or 6 with seconds first/);
    expect(problems[0]).toMatch(reason);
    expect(problems[0]).toContain(`(got "${value}")`);
  });

  it('refuses a count repair grace outside 1 s .. 1 day', () => {
    expect(() => loadAppConfig({ CHAT_COUNT_REPAIR_GRACE_SECONDS: '0' })).toThrow(
      /CHAT_COUNT_REPAIR_GRACE_SECONDS: must be a whole number from 1 to 86400/,
    );
    expect(() => loadAppConfig({ CHAT_COUNT_REPAIR_GRACE_SECONDS: 'soon' })).toThrow(/CHAT_COUNT_REPAIR_GRACE_SECONDS/);
  });

  it('refuses both a secret and a public key', () => {
    expect(() =>
      loadAppConfig({ JWT_SECRET: 's'.repeat(32), JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----' }),
    ).toThrow(/not both/);
  });
});
