import { HttpException, HttpStatus } from '@nestjs/common';
import { ErrorCode } from './error-codes.js';

export interface FieldError {
  field: string;
  messages: string[];
}

/** The body every error answer carries; see ErrorResponseDto for its documented shape. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  code: ErrorCode;
  message: string;
  details?: unknown;
}

/** An HttpException whose body already has the standard shape, with a stable code. */
export class AppException extends HttpException {
  /** Response headers the answer must carry (Retry-After, Content-Range, ...). */
  readonly headers: Record<string, string> = {};

  constructor(status: HttpStatus, code: ErrorCode, message: string, details?: unknown) {
    const body: ErrorBody = { statusCode: status, error: reasonPhrase(status), code, message };
    if (details !== undefined) body.details = details;
    super(body, status);
  }

  withHeader(name: string, value: string): this {
    this.headers[name] = value;
    return this;
  }
}

export class ValidationFailedException extends AppException {
  constructor(details: FieldError[], message = 'Request validation failed') {
    super(HttpStatus.BAD_REQUEST, ErrorCode.VALIDATION_FAILED, message, details);
  }

  static forField(field: string, message: string): ValidationFailedException {
    return new ValidationFailedException([{ field, messages: [message] }], message);
  }
}

export class ResourceNotFoundException extends AppException {
  constructor(code: ErrorCode, message: string) {
    super(HttpStatus.NOT_FOUND, code, message);
  }
}

export class ConflictStateException extends AppException {
  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(HttpStatus.CONFLICT, code, message, details);
  }
}

export class ForbiddenActionException extends AppException {
  constructor(code: ErrorCode, message: string) {
    super(HttpStatus.FORBIDDEN, code, message);
  }
}

const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  422: 'Unprocessable Entity',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  507: 'Insufficient Storage',
};

export function reasonPhrase(status: number): string {
  return REASON_PHRASES[status] ?? (status >= 500 ? 'Internal Server Error' : 'Bad Request');
}
