import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse } from '@nestjs/swagger';
import { ErrorResponseDto, FieldErrorDto } from './error-response.dto.js';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: unknown or malformed fields, bad ids, bad cursors, Mongo operators.',
  401: 'Missing, expired or invalid bearer token.',
  403: 'The caller may not do this.',
  404: 'Not found, or not the caller’s.',
  409: 'The resource is in a state that forbids this.',
  413: 'Body larger than BODY_LIMIT, a file over CHAT_MAX_FILE_SIZE_MB, or over the storage quota.',
  415: 'Unsupported content type or file type.',
  416: 'Range outside the file.',
  503: 'A dependency is unavailable.',
};

/** Documents the standard error body for each listed status. 500 is implied on every route. */
export function ApiErrorResponses(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ErrorResponseDto, FieldErrorDto),
    ...[...statuses, 500].map((status) =>
      ApiResponse({ status, description: DESCRIPTIONS[status] ?? 'Unexpected error, logged with the request id.', type: ErrorResponseDto }),
    ),
  );
}
