import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { HttpStatus } from '@nestjs/common';
import { AppException } from '../errors/app-exceptions.js';
import { ErrorCode } from '../errors/error-codes.js';

/** The content types the JSON body parser reads (and the only ones JSON routes accept). */
export const JSON_CONTENT_TYPES = ['application/json', 'application/*+json'];

/**
 * Refuses a request body the API would not read: JSON routes parse only JSON, so a body sent as
 * text/plain, form data or XML would reach them as no body at all, and a route whose fields are
 * all optional would act on defaults (an anonymisation without the names to mask). Such a body is
 * answered 415 UNSUPPORTED_MEDIA_TYPE before anything runs. Multipart bodies are accepted only on
 * the paths that stream them (file uploads).
 */
export function jsonBodiesOnly(options: { multipartPaths: readonly RegExp[] }): RequestHandler {
  return (request: Request, _response: Response, next: NextFunction) => {
    if (!hasBody(request)) return next();
    if (request.is(JSON_CONTENT_TYPES)) return next();
    if (request.is('multipart/form-data') && options.multipartPaths.some((path) => path.test(request.path))) return next();
    next(
      new AppException(
        HttpStatus.UNSUPPORTED_MEDIA_TYPE,
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
        `This route reads JSON bodies only: send Content-Type: application/json (got ${request.headers['content-type'] ?? 'no content type'})`,
      ),
    );
  };
}

/** A chunked body, or a length other than 0 (`Content-Length: 0` is no body, whatever the content type). */
function hasBody(request: Request): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
