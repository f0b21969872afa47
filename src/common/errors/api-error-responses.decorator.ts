import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse } from '@nestjs/swagger';
import { ErrorResponseDto, FieldErrorDto } from './error-response.dto.js';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: unknown or malformed fields, bad ids, bad cursors, Mongo operators.',
  401: 'Missing, expired or invalid bearer token.',
  403: 'The caller may not do this.',
  404: 'Not found, or not the caller’s.',
  409: 'The resource is in a state that forbids this.',
  410: 'It existed and is gone for good (an expired export, a removed file).',
  413: 'Body larger than BODY_LIMIT, a file over CHAT_MAX_FILE_SIZE_MB, or over the storage quota.',
  415: 'Unsupported content type or file type.',
  416: 'Range outside the file.',
  503: 'The database (code STORE_UNAVAILABLE: unreachable, restarting or shutting down) or another dependency is unavailable; retry after Retry-After seconds.',
  507: 'Writes only: the database has no disk space left (code STORAGE_FULL); nothing was stored, retry after Retry-After seconds.',
};

/**
 * Documents the standard error body for each listed status. 503 (the store is unavailable), 507
 * (its disk is full) and 500 are implied on every route.
 */
export function ApiErrorResponses(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorResponseDto, FieldErrorDto),
    ...[...new Set([...statuses, 503, 507, 500])].map((status) =>
      ApiResponse({ status, description: DESCRIPTIONS[status] ?? 'Unexpected error, logged with the request id.', type: ErrorResponseDto }),
    ),
  );
}
