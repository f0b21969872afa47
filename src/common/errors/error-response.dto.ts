import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ErrorCode } from './error-codes.js';

export class FieldErrorDto {
  @ApiProperty({ example: 'title', description: 'Path of the offending field (dotted for nested fields).' })
  field!: string;

  @ApiProperty({ type: [String], example: ['title must be a string'] })
  messages!: string[];
}

export class ErrorResponseDto {
  @ApiProperty({ example: 400 })
  statusCode!: number;

  @ApiProperty({ example: 'Bad Request', description: 'HTTP reason phrase of statusCode.' })
  error!: string;

  @ApiProperty({ enum: Object.values(ErrorCode), example: ErrorCode.VALIDATION_FAILED, description: 'Stable machine-readable code.' })
  code!: string;

  @ApiProperty({ example: 'Request validation failed', description: 'Human-readable explanation, safe to show.' })
  message!: string;

  @ApiPropertyOptional({
    description: 'Extra structured information: for VALIDATION_FAILED an array of FieldErrorDto.',
    oneOf: [{ type: 'array', items: { $ref: '#/components/schemas/FieldErrorDto' } }, { type: 'object' }],
  })
  details?: FieldErrorDto[] | Record<string, unknown>;
}
