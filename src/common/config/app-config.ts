import { readFileSync } from 'node:fs';
import { CronTime, validateCronExpression } from 'cron';
import { DateTime } from 'luxon';
import { ROLE_NAME_PATTERN } from '../../auth/authenticated-user.js';

/**
 * The whole typed configuration, built once at boot from the environment by `loadAppConfig`.
 * Read it through `ConfigService<AppConfig, true>` with `{ infer: true }`.
 */
export interface AppConfig {
  nodeEnv: 'development' | 'production' | 'test';
  http: {
    host: string;
    port: number;
    bodyLimit: string;
    corsOrigins: string[];
  };
  logLevel: LogLevel;
  mongo: {
    /** Undefined means: start the embedded store (see src/database/store). */
    uri?: string;
    /** MONGODB_DB_NAME, else the database named in MONGODB_URI, else `wms_chat`. */
    dbName: string;
    dataDir: string;
    runMigrationsOnBoot: boolean;
    /** How long a request waits for a reachable server before answering 503 STORE_UNAVAILABLE. */
    serverSelectionTimeoutMs: number;
    /** The embedded store refuses writes (507 STORAGE_FULL) when its disk has less free space than this. */
    embeddedStoreMinFreeMb: number;
  };
  /** Deadline for a graceful stop after SIGTERM/SIGINT: drain requests, close sockets, stop the store. */
  shutdownTimeoutMs: number;
  auth: JwtVerificationConfig;
  chat: {
    retentionDays: number;
    maxMessagesPerConversation: number;
    maxMessageLength: number;
    enableAnalytics: boolean;
    enableFileUploads: boolean;
    maxFileSizeMb: number;
    /** The message cache's bound (MessageCache); 0 turns it off. */
    cacheMaxMb: number;
  };
  attachments: {
    storage: AttachmentStorageDriver;
    /** Where the `local` driver keeps files. */
    directory: string;
    /** Total bytes of attachments one user may keep. */
    userQuotaMb: number;
    maxFilesPerUpload: number;
    processingConcurrency: number;
    /** Extracted text kept per attachment (characters); the rest is cut. */
    maxExtractedChars: number;
    /** The unpacked-bytes budget per file: files above it are stored but not parsed, and an archive (DOCX, XLSX) that unpacks to more fails (checked while inflating). */
    maxExtractionMb: number;
    /** The Tesseract binary for image text; OCR is reported unavailable when it cannot be run. */
    tesseractBinary: string;
  };
  /** Limits of the parser sandbox (a child process per file, src/attachments/processing/parser-sandbox.ts). */
  attachmentParser: {
    /** A parser's heap limit and resident-memory limit; past it the parser is killed (PARSER_MEMORY_LIMIT). */
    memoryMb: number;
    /** A parser's wall-clock deadline; past it the parser is killed (PARSER_TIMEOUT). */
    timeoutMs: number;
    /** Pixels (all frames) an image may declare to be decoded; larger ones fail (IMAGE_TOO_LARGE). */
    maxImagePixels: number;
  };
  llm: {
    /** OpenAI-compatible endpoint for agents whose provider is `openai-compatible`. */
    baseUrl?: string;
    apiKey?: string;
    /** Model used when an agent names none. */
    model: string;
    timeoutMs: number;
    maxRetries: number;
    /** Pause between the playbook provider's streamed chunks (0 in tests). */
    playbookChunkDelayMs: number;
  };
  rateLimit: {
    messagesPerMinute: number;
  };
  websockets: {
    enabled: boolean;
    heartbeatIntervalSeconds: number;
    maxConnectionsPerUser: number;
    /** Events a socket may send per minute before its events are refused. */
    eventsPerMinute: number;
  };
  /** Redis for cross-instance realtime traffic (Socket.IO adapter); unset: single instance. */
  redisUrl?: string;
  compliance: {
    /** ENABLE_DATA_RETENTION: the retention job purges (or anonymises, per policy) what outlived its period. */
    enableDataRetention: boolean;
    enableChatExport: boolean;
    anonymizationEnabled: boolean;
    /** CHAT_RETENTION_CRON: when the retention job runs. */
    retentionCron: string;
    /** Conversations deleted with permanent=true are purged this long after the delete. */
    permanentDeleteGraceMinutes: number;
    /** How long a finished data-export archive can be downloaded. */
    dataExportTtlHours: number;
    /** Audit entries older than this are pruned (the chain stays verifiable from a recorded anchor). */
    auditRetentionDays: number;
    /**
     * Key of the keyed hashes that stand for user ids in the audit log (CHAT_AUDIT_HASH_KEY).
     * Unset: a random key is generated once and kept in the database.
     */
    auditHashKey?: string;
    /** Failed authentications from one address within a minute that make a burst worth an audit entry. */
    authFailureBurst: number;
  };
  /** The analytics rollups and dashboard (src/analytics); all of it off with CHAT_ENABLE_ANALYTICS=false. */
  analytics: {
    /** CHAT_ANALYTICS_CRON: when the rollup job brings today's figures up to date and closes past days. */
    cron: string;
    /** CHAT_ANALYTICS_TIMEZONE: the IANA time zone of analytics days, weeks, months and hours. */
    timeZone: string;
    /** CHAT_ANALYTICS_SUPERVISOR_ROLE: holders of this role see the figures of every WMS role they hold. */
    supervisorRole: string;
  };
  /** The legacy store's import (src/legacy-import). */
  legacyImport: {
    /** CHAT_LEGACY_IMPORT_MAX_MB: the largest dump `POST /chat/admin/import/legacy` takes (the command line has no limit). */
    maxUploadBytes: number;
  };
  /** The Prometheus exposition at `/metrics` (src/metrics). */
  metrics: {
    /** METRICS_TOKEN: when set, a scrape must send `Authorization: Bearer <token>`; unset, `/metrics` is open. */
    token?: string;
  };
  /** Scheduled jobs (src/jobs): cron expressions of 5 fields, or 6 with seconds first. */
  jobs: {
    countRepair: {
      /** CHAT_COUNT_REPAIR_CRON: when the conversation count repair runs (it also runs at boot). */
      cron: string;
      /** Conversations changed more recently than this are left alone (a message write may be in flight). */
      graceSeconds: number;
    };
  };
}

export const ATTACHMENT_STORAGE_DRIVERS = ['local', 'gridfs'] as const;
export type AttachmentStorageDriver = (typeof ATTACHMENT_STORAGE_DRIVERS)[number];

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** JWT_MAX_TTL: the longest lifetime (exp − iat) a token may have; tokens must carry exp. */
export type JwtVerificationConfig = { maxTtlSeconds: number } & (
  | { algorithm: 'HS256'; secret: string; issuer?: string; audience?: string; usingDevelopmentSecret: boolean }
  | { algorithm: 'RS256'; publicKey: string; issuer?: string; audience?: string; usingDevelopmentSecret: false }
);

/**
 * Outside production, a fixed secret lets `npm start` and `npm run token` work on a fresh machine
 * with no setup. Production refuses to boot without JWT_SECRET or JWT_PUBLIC_KEY.
 */
export const DEVELOPMENT_JWT_SECRET = 'development-only-secret-change-me-0123456789abcdef';

export const DEFAULT_DATABASE_NAME = 'wms_chat';

/** The database path of a MongoDB URI (`mongodb://host/name?opts` gives `name`), if any. */
function databaseInUri(uri: string | undefined): string | undefined {
  const match = /^mongodb(?:\+srv)?:\/\/[^/]+\/([^?]+)/.exec(uri?.trim() ?? '');
  return match?.[1] ? decodeURIComponent(match[1]) : undefined;
}

export class ConfigValidationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid environment configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigValidationError';
  }
}

type Env = Record<string, string | undefined>;

/** Reads and validates every variable; throws one error that names each bad variable. */
export function loadAppConfig(env: Env = process.env): AppConfig {
  const reader = new EnvReader(env);
  const nodeEnv = reader.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');

  const config: AppConfig = {
    nodeEnv,
    http: {
      host: reader.string('HOST', '0.0.0.0'),
      port: reader.integer('PORT', 3000, 1, 65535),
      bodyLimit: reader.byteSize('BODY_LIMIT', '1mb'),
      corsOrigins: reader.list('CORS_ORIGINS'),
    },
    logLevel: reader.oneOf('LOG_LEVEL', LOG_LEVELS, nodeEnv === 'test' ? 'silent' : 'info'),
    mongo: {
      uri: reader.mongoUri('MONGODB_URI'),
      dbName: reader.databaseName('MONGODB_DB_NAME', databaseInUri(env.MONGODB_URI) ?? DEFAULT_DATABASE_NAME),
      dataDir: reader.string('DATA_DIR', './data'),
      runMigrationsOnBoot: reader.boolean('MIGRATIONS_RUN_ON_BOOT', true),
      serverSelectionTimeoutMs: reader.integer('MONGODB_SERVER_SELECTION_TIMEOUT_MS', 2000, 100, 120_000),
      embeddedStoreMinFreeMb: reader.integer('EMBEDDED_STORE_MIN_FREE_MB', 64, 1, 1_000_000),
    },
    shutdownTimeoutMs: reader.integer('SHUTDOWN_TIMEOUT_MS', 10_000, 1000, 600_000),
    auth: readJwtConfig(reader, nodeEnv),
    chat: {
      retentionDays: reader.integer('CHAT_RETENTION_DAYS', 365, 1, 36500),
      maxMessagesPerConversation: reader.integer('CHAT_MAX_MESSAGES_PER_CONVERSATION', 1000, 1, 1_000_000),
      maxMessageLength: reader.integer('CHAT_MAX_MESSAGE_LENGTH', 32000, 1, 1_000_000),
      enableAnalytics: reader.boolean('CHAT_ENABLE_ANALYTICS', true),
      enableFileUploads: reader.boolean('CHAT_ENABLE_FILE_UPLOADS', true),
      maxFileSizeMb: reader.integer('CHAT_MAX_FILE_SIZE_MB', 10, 1, 10_240),
      cacheMaxMb: reader.integer('CHAT_CACHE_MAX_MB', 64, 0, 65_536),
    },
    attachments: {
      storage: reader.oneOf('ATTACHMENT_STORAGE', ATTACHMENT_STORAGE_DRIVERS, 'local'),
      directory: reader.string('ATTACHMENTS_DIR', `${reader.string('DATA_DIR', './data')}/attachments`),
      userQuotaMb: reader.integer('CHAT_USER_STORAGE_QUOTA_MB', 1024, 1, 10_485_760),
      maxFilesPerUpload: reader.integer('CHAT_MAX_FILES_PER_UPLOAD', 10, 1, 100),
      processingConcurrency: reader.integer('ATTACHMENT_PROCESSING_CONCURRENCY', 2, 1, 64),
      maxExtractedChars: reader.integer('ATTACHMENT_MAX_EXTRACTED_CHARS', 200_000, 1000, 10_000_000),
      maxExtractionMb: reader.integer('ATTACHMENT_MAX_EXTRACTION_MB', 50, 1, 10_240),
      tesseractBinary: reader.string('TESSERACT_BINARY', 'tesseract'),
    },
    attachmentParser: {
      memoryMb: reader.integer('ATTACHMENT_PARSER_MEMORY_MB', 1024, 128, 65_536),
      timeoutMs: reader.integer('ATTACHMENT_PARSER_TIMEOUT_MS', 60_000, 100, 600_000),
      maxImagePixels: reader.integer('ATTACHMENT_MAX_IMAGE_PIXELS', 50_000_000, 1_000_000, 268_402_689),
    },
    llm: {
      baseUrl: reader.httpUrl('LLM_BASE_URL'),
      apiKey: reader.optionalString('LLM_API_KEY'),
      model: reader.string('LLM_MODEL', 'gpt-4o-mini'),
      timeoutMs: reader.integer('LLM_TIMEOUT_MS', 60_000, 100, 600_000),
      maxRetries: reader.integer('LLM_MAX_RETRIES', 2, 0, 10),
      playbookChunkDelayMs: reader.integer('PLAYBOOK_CHUNK_DELAY_MS', nodeEnv === 'test' ? 0 : 20, 0, 1000),
    },
    rateLimit: {
      messagesPerMinute: reader.integer('CHAT_RATE_LIMIT_PER_MINUTE', 30, 1, 100_000),
    },
    websockets: {
      enabled: reader.boolean('ENABLE_WEBSOCKETS', true),
      heartbeatIntervalSeconds: reader.integer('WEBSOCKET_HEARTBEAT_INTERVAL', 30, 1, 3600),
      maxConnectionsPerUser: reader.integer('WEBSOCKET_MAX_CONNECTIONS_PER_USER', 20, 1, 10_000),
      eventsPerMinute: reader.integer('WEBSOCKET_EVENTS_PER_MINUTE', 600, 1, 1_000_000),
    },
    redisUrl: reader.redisUrl('REDIS_URL'),
    compliance: {
      enableDataRetention: reader.boolean('ENABLE_DATA_RETENTION', true),
      enableChatExport: reader.boolean('ENABLE_CHAT_EXPORT', true),
      anonymizationEnabled: reader.boolean('CHAT_ANONYMIZATION_ENABLED', false),
      retentionCron: reader.cron('CHAT_RETENTION_CRON', '30 3 * * *'),
      permanentDeleteGraceMinutes: reader.integer('CHAT_PERMANENT_DELETE_GRACE_MINUTES', 60, 0, 10_080),
      dataExportTtlHours: reader.integer('CHAT_DATA_EXPORT_TTL_HOURS', 72, 1, 8760),
      auditRetentionDays: reader.integer('CHAT_AUDIT_RETENTION_DAYS', 730, 1, 36500),
      auditHashKey: reader.secret('CHAT_AUDIT_HASH_KEY', 32),
      authFailureBurst: reader.integer('CHAT_AUTH_FAILURE_BURST', 20, 1, 1_000_000),
    },
    analytics: {
      cron: reader.cron('CHAT_ANALYTICS_CRON', '*/15 * * * *'),
      timeZone: reader.timeZone('CHAT_ANALYTICS_TIMEZONE', 'UTC'),
      supervisorRole: reader.roleName('CHAT_ANALYTICS_SUPERVISOR_ROLE', 'supervisor'),
    },
    legacyImport: {
      maxUploadBytes: reader.integer('CHAT_LEGACY_IMPORT_MAX_MB', 1024, 1, 1_048_576) * 1024 * 1024,
    },
    metrics: {
      token: reader.secret('METRICS_TOKEN', 16),
    },
    jobs: {
      countRepair: {
        cron: reader.cron('CHAT_COUNT_REPAIR_CRON', '*/5 * * * *'),
        graceSeconds: reader.integer('CHAT_COUNT_REPAIR_GRACE_SECONDS', 60, 1, 86_400),
      },
    },
  };

  if (reader.problems.length > 0) {
    throw new ConfigValidationError(reader.problems);
  }
  return config;
}

function readJwtConfig(reader: EnvReader, nodeEnv: AppConfig['nodeEnv']): JwtVerificationConfig {
  const issuer = reader.optionalString('JWT_ISSUER');
  const audience = reader.optionalString('JWT_AUDIENCE');
  const secret = reader.optionalString('JWT_SECRET');
  const publicKey = reader.optionalString('JWT_PUBLIC_KEY');
  const publicKeyFile = reader.optionalString('JWT_PUBLIC_KEY_FILE');
  const maxTtlSeconds = reader.duration('JWT_MAX_TTL', 24 * 3600, 1, 366 * 24 * 3600);

  if (secret !== undefined && (publicKey !== undefined || publicKeyFile !== undefined)) {
    reader.problem('JWT_SECRET', 'set either JWT_SECRET (HS256) or JWT_PUBLIC_KEY / JWT_PUBLIC_KEY_FILE (RS256), not both');
  }
  if (publicKey !== undefined || publicKeyFile !== undefined) {
    const pem = publicKey?.replace(/\\n/g, '\n') ?? readKeyFile(reader, publicKeyFile!);
    if (pem !== undefined && !/-----BEGIN (RSA )?PUBLIC KEY-----/.test(pem)) {
      reader.problem(publicKey !== undefined ? 'JWT_PUBLIC_KEY' : 'JWT_PUBLIC_KEY_FILE', 'must be a PEM-encoded RSA public key');
    }
    return { algorithm: 'RS256', publicKey: pem ?? '', issuer, audience, usingDevelopmentSecret: false, maxTtlSeconds };
  }
  if (secret !== undefined) {
    if (secret.length < 32) {
      reader.problem('JWT_SECRET', 'must be at least 32 characters long');
    }
    return { algorithm: 'HS256', secret, issuer, audience, usingDevelopmentSecret: false, maxTtlSeconds };
  }
  if (nodeEnv === 'production') {
    reader.problem('JWT_SECRET', 'JWT_SECRET or JWT_PUBLIC_KEY is required when NODE_ENV=production');
  }
  return { algorithm: 'HS256', secret: DEVELOPMENT_JWT_SECRET, issuer, audience, usingDevelopmentSecret: true, maxTtlSeconds };
}

function readKeyFile(reader: EnvReader, path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    reader.problem('JWT_PUBLIC_KEY_FILE', `cannot read ${path}: ${(error as Error).message}`);
    return undefined;
  }
}

/** A valid expression that matches no date (`0 0 31 2 *`): the cron package cannot schedule it. */
function neverFires(expression: string): boolean {
  try {
    new CronTime(expression).sendAt();
    return false;
  } catch {
    return true;
  }
}

class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  problem(name: string, message: string): void {
    this.problems.push(`${name}: ${message}`);
  }

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  /** An optional secret of at least `minLength` characters. */
  secret(name: string, minLength: number): string | undefined {
    const value = this.optionalString(name);
    if (value !== undefined && value.length < minLength) {
      this.problem(name, `must be at least ${minLength} characters long`);
      return undefined;
    }
    return value;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      this.problem(name, `must be a whole number from ${min} to ${max} (got "${value}")`);
      return fallback;
    }
    return Number(value);
  }

  /** Seconds, written as a whole number of seconds or with a unit: `90`, `90s`, `15m`, `8h`, `7d`. */
  duration(name: string, fallbackSeconds: number, minSeconds: number, maxSeconds: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallbackSeconds;
    const match = /^(\d{1,9})(s|m|h|d)?$/.exec(value);
    const seconds = match ? Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'] : NaN;
    if (!(seconds >= minSeconds && seconds <= maxSeconds)) {
      this.problem(
        name,
        `must be a duration such as 3600, 15m, 8h or 7d, from ${minSeconds} s to ${maxSeconds / 86_400} days (got "${value}")`,
      );
      return fallbackSeconds;
    }
    return seconds;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    this.problem(name, `must be true or false (got "${value}")`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(value)) {
      this.problem(name, `must be one of ${allowed.join(', ')} (got "${value}")`);
      return fallback;
    }
    return value as T;
  }

  byteSize(name: string, fallback: string): string {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^\d+(b|kb|mb)$/i.test(value)) {
      this.problem(name, `must be a size such as 512kb or 1mb (got "${value}")`);
      return fallback;
    }
    return value.toLowerCase();
  }

  list(name: string): string[] {
    const value = this.raw(name);
    return value === undefined
      ? []
      : value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean);
  }

  databaseName(name: string, fallback: string): string {
    const value = this.raw(name) ?? fallback;
    if (!/^[A-Za-z0-9_-]{1,63}$/.test(value)) {
      this.problem(name, `must be a database name of letters, digits, _ or - (got "${value}")`);
      return DEFAULT_DATABASE_NAME;
    }
    return value;
  }

  /** An IANA time zone name (`Europe/Berlin`). */
  timeZone(name: string, fallback: string): string {
    const value = this.raw(name) ?? fallback;
    if (!DateTime.now().setZone(value).isValid) {
      this.problem(name, `must be an IANA time zone such as UTC or Europe/Berlin, got "${value}"`);
      return fallback;
    }
    return value;
  }

  /** A role name as tokens carry it (lower case, digits, underscores). */
  roleName(name: string, fallback: string): string {
    const value = this.raw(name) ?? fallback;
    if (!ROLE_NAME_PATTERN.test(value)) {
      this.problem(name, `must be a role name (lower-case letters, digits and underscores, starting with a letter), got "${value}"`);
      return fallback;
    }
    return value;
  }

  cron(name: string, fallback: string): string {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const { valid, error } = validateCronExpression(value);
    const reason = valid ? (neverFires(value) ? 'it never fires' : undefined) : (error?.message ?? 'not understood');
    if (reason !== undefined) {
      this.problem(name, `must be a cron expression of 5 fields, or 6 with seconds first, such as */5 * * * *: ${reason} (got "${value}")`);
      return fallback;
    }
    return value;
  }

  redisUrl(name: string): string | undefined {
    const value = this.raw(name);
    if (value !== undefined && !/^rediss?:\/\/[^\s]+$/.test(value)) {
      this.problem(name, `must be a redis:// or rediss:// URL (got "${value}")`);
      return undefined;
    }
    return value;
  }

  httpUrl(name: string): string | undefined {
    const value = this.raw(name);
    if (value !== undefined && !/^https?:\/\/[^\s]+$/.test(value)) {
      this.problem(name, `must be an http(s) URL such as http://localhost:11434/v1 (got "${value}")`);
      return undefined;
    }
    return value?.replace(/\/+$/, '');
  }

  mongoUri(name: string): string | undefined {
    const value = this.raw(name);
    if (value !== undefined && !/^mongodb(\+srv)?:\/\/.+/.test(value)) {
      this.problem(name, 'must be a MongoDB connection string starting with mongodb:// or mongodb+srv://');
      return undefined;
    }
    return value;
  }
}
