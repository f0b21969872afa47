import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppException, ErrorBody, reasonPhrase } from './app-exceptions.js';
import { ErrorCode } from './error-codes.js';
import { fromDriverError } from './store-errors.js';

const CODE_FOR_STATUS: Record<number, ErrorCode> = {
  400: ErrorCode.VALIDATION_FAILED,
  401: ErrorCode.UNAUTHORIZED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  405: ErrorCode.METHOD_NOT_ALLOWED,
  413: ErrorCode.PAYLOAD_TOO_LARGE,
  503: ErrorCode.SERVICE_UNAVAILABLE,
};

/**
 * The one place an error becomes an HTTP answer. Every body has the same shape
 * (`statusCode`, `error`, `code`, `message`, optional `details`); driver and framework errors are
 * translated so that none of them surfaces as a 500 INTERNAL_ERROR (an unreachable store is a 503
 * `STORE_UNAVAILABLE`, a full disk a 507 `STORAGE_FULL`, both with Retry-After; data the store
 * refuses a 400 `DATA_NOT_STORABLE`; any other refusal a 500 `STORE_ERROR`), and truly unexpected
 * errors are logged once, with the request id the client sees in `x-request-id`.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('ExceptionsFilter');

  catch(thrown: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') {
      throw thrown;
    }
    // Driver errors are no bugs: an unreachable, restarting or full store is a stable 503/507 the
    // client can retry, data the store refuses a 400, anything else the store says STORE_ERROR.
    const cause = thrown instanceof HttpException && thrown.cause ? thrown.cause : thrown;
    const exception = fromDriverError(cause) ?? thrown;
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request>();
    const body = this.toBody(exception, request);
    if (body.code === ErrorCode.STORE_ERROR) {
      this.logger.error(
        { err: cause, requestId: request.id, method: request.method, url: request.originalUrl },
        'The store refused an operation while serving request',
      );
    }
    if (response.headersSent) {
      response.end();
      return;
    }
    const retryAfter = (exception as { retryAfterSeconds?: unknown }).retryAfterSeconds;
    if (typeof retryAfter === 'number') {
      response.setHeader('Retry-After', String(retryAfter));
    }
    if (exception instanceof AppException) {
      for (const [name, value] of Object.entries(exception.headers)) response.setHeader(name, value);
    }
    response.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown, request: Request): ErrorBody {
    const translated = fromKnownError(exception instanceof HttpException && exception.cause ? exception.cause : exception);
    if (translated) {
      return translated;
    }
    if (exception instanceof HttpException) {
      return fromHttpException(exception);
    }
    this.logger.error(
      { err: exception, requestId: request.id, method: request.method, url: request.originalUrl },
      'Unhandled error while serving request',
    );
    return body(HttpStatus.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL_ERROR, `Internal server error (request id ${request.id as string})`);
  }
}

function fromHttpException(exception: HttpException): ErrorBody {
  const status = exception.getStatus();
  const response = exception.getResponse();
  if (isErrorBody(response)) {
    return response;
  }
  const code = CODE_FOR_STATUS[status] ?? (status >= 500 ? ErrorCode.INTERNAL_ERROR : ErrorCode.VALIDATION_FAILED);
  if (typeof response === 'string') {
    return body(status, code, response);
  }
  const { message } = response as { message?: unknown };
  if (message === undefined) {
    // Framework bodies without a message (e.g. terminus health results) travel as details.
    return body(status, code, exception.message, response);
  }
  return body(status, code, Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : JSON.stringify(message));
}

/**
 * Body-parser errors, the client's doing (driver and Mongoose errors were translated by
 * fromDriverError). Nest wraps body-parser errors in an HttpException; they arrive here as its cause.
 */
function fromKnownError(exception: unknown): ErrorBody | undefined {
  const bodyParserError = exception as { type?: unknown; status?: unknown; expose?: unknown };
  if (typeof bodyParserError.type === 'string' && typeof bodyParserError.status === 'number' && bodyParserError.expose === true) {
    switch (bodyParserError.type) {
      case 'entity.too.large':
        return body(HttpStatus.PAYLOAD_TOO_LARGE, ErrorCode.PAYLOAD_TOO_LARGE, 'Request body is larger than the allowed limit');
      case 'entity.parse.failed':
        return body(HttpStatus.BAD_REQUEST, ErrorCode.MALFORMED_JSON, 'Request body is not valid JSON');
      default:
        return body(
          bodyParserError.status,
          CODE_FOR_STATUS[bodyParserError.status] ?? ErrorCode.VALIDATION_FAILED,
          'Request body could not be read',
        );
    }
  }
  return undefined;
}

function body(status: number, code: ErrorCode, message: string, details?: unknown): ErrorBody {
  const result: ErrorBody = { statusCode: status, error: reasonPhrase(status), code, message };
  if (details !== undefined) result.details = details;
  return result;
}

function isErrorBody(value: unknown): value is ErrorBody {
  return typeof value === 'object' && value !== null && 'statusCode' in value && 'code' in value && 'message' in value;
}
