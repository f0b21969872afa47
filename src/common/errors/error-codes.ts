/**
 * Stable machine-readable error codes. Clients branch on `code`, never on `message`, so a code,
 * once published, keeps its meaning.
 */
export const ErrorCode = {
  VALIDATION_FAILED: 'VALIDATION_FAILED',
  MALFORMED_JSON: 'MALFORMED_JSON',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  INVALID_CURSOR: 'INVALID_CURSOR',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  ROLE_REQUIRED: 'ROLE_REQUIRED',
  ROLE_NOT_ALLOWED: 'ROLE_NOT_ALLOWED',
  NOT_FOUND: 'NOT_FOUND',
  /** The path exists but does not serve this method; `Allow` lists the methods it does. */
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  /** A WebSocket endpoint was asked for with plain HTTP. */
  UPGRADE_REQUIRED: 'UPGRADE_REQUIRED',
  CONVERSATION_NOT_FOUND: 'CONVERSATION_NOT_FOUND',
  CONVERSATION_NOT_ACTIVE: 'CONVERSATION_NOT_ACTIVE',
  CONVERSATION_FULL: 'CONVERSATION_FULL',
  CONVERSATION_BUSY: 'CONVERSATION_BUSY',
  DUPLICATE_KEY: 'DUPLICATE_KEY',
  AGENT_NOT_FOUND: 'AGENT_NOT_FOUND',
  UNKNOWN_AGENT: 'UNKNOWN_AGENT',
  AGENT_DISABLED: 'AGENT_DISABLED',
  AGENT_NOT_ALLOWED: 'AGENT_NOT_ALLOWED',
  AGENT_UNAVAILABLE: 'AGENT_UNAVAILABLE',
  MESSAGE_NOT_FOUND: 'MESSAGE_NOT_FOUND',
  NOT_AN_ASSISTANT_MESSAGE: 'NOT_AN_ASSISTANT_MESSAGE',
  REPLY_IN_PROGRESS: 'REPLY_IN_PROGRESS',
  RATE_LIMITED: 'RATE_LIMITED',
  MALFORMED_MULTIPART: 'MALFORMED_MULTIPART',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  UNSUPPORTED_FILE_TYPE: 'UNSUPPORTED_FILE_TYPE',
  FILE_TOO_LARGE: 'FILE_TOO_LARGE',
  STORAGE_QUOTA_EXCEEDED: 'STORAGE_QUOTA_EXCEEDED',
  ATTACHMENT_NOT_FOUND: 'ATTACHMENT_NOT_FOUND',
  ATTACHMENT_NOT_READY: 'ATTACHMENT_NOT_READY',
  ATTACHMENT_UNAVAILABLE: 'ATTACHMENT_UNAVAILABLE',
  NOT_A_USER_MESSAGE: 'NOT_A_USER_MESSAGE',
  RANGE_NOT_SATISFIABLE: 'RANGE_NOT_SATISFIABLE',
  FACT_LIMIT_REACHED: 'FACT_LIMIT_REACHED',
  /** A legal hold on the user or conversation blocks the purge, erasure or anonymisation. */
  LEGAL_HOLD: 'LEGAL_HOLD',
  LEGAL_HOLD_NOT_FOUND: 'LEGAL_HOLD_NOT_FOUND',
  /** CHAT_ANONYMIZATION_ENABLED is off: anonymisation routes do not exist. */
  ANONYMIZATION_DISABLED: 'ANONYMIZATION_DISABLED',
  /** A destructive request lacks its explicit confirmation. */
  CONFIRMATION_REQUIRED: 'CONFIRMATION_REQUIRED',
  DATA_EXPORT_NOT_FOUND: 'DATA_EXPORT_NOT_FOUND',
  DATA_EXPORT_NOT_READY: 'DATA_EXPORT_NOT_READY',
  DATA_EXPORT_EXPIRED: 'DATA_EXPORT_EXPIRED',
  /** One data export per user at a time: the running one is named in `details`. */
  DATA_EXPORT_IN_PROGRESS: 'DATA_EXPORT_IN_PROGRESS',
  ERASURE_NOT_FOUND: 'ERASURE_NOT_FOUND',
  RETENTION_POLICY_NOT_FOUND: 'RETENTION_POLICY_NOT_FOUND',
  /** CHAT_ENABLE_ANALYTICS is off: the analytics routes and page do not exist. */
  ANALYTICS_DISABLED: 'ANALYTICS_DISABLED',
  /** The analytics scope does not exist or is not the caller's to see. */
  ANALYTICS_SCOPE_NOT_FOUND: 'ANALYTICS_SCOPE_NOT_FOUND',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  STORAGE_FULL: 'STORAGE_FULL',
  /** The store refused the data as given (too large, a key it cannot hold); nothing was stored. */
  DATA_NOT_STORABLE: 'DATA_NOT_STORABLE',
  /** The store refused an operation for a reason no other code names; logged with the request id. */
  STORE_ERROR: 'STORE_ERROR',
  INTERNAL_ERROR: 'INTERNAL_ERROR',
  /** A retention run asked for now did not run: another instance holds the job's lease (a run is under way there), or this one is shutting down. */
  RETENTION_RUN_SKIPPED: 'RETENTION_RUN_SKIPPED',
  /** An erasure or anonymisation of the user is pending or running: no export of their data starts meanwhile. */
  ERASURE_IN_PROGRESS: 'ERASURE_IN_PROGRESS',
  /** An erasure or anonymisation was given up (its attempts used up); `details.erasure` is its receipt. Asking again starts anew. */
  ERASURE_FAILED: 'ERASURE_FAILED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
