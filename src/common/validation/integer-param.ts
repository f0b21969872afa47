import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsInt, Max, Min } from 'class-validator';

const DECIMAL = /^[0-9]{1,15}$/;

/**
 * An integer from the query string, written in decimal digits only. `Number()` would also read
 * `0x10`, `1e2`, ` 16`, `0b1` and `''` as numbers; those stay strings here and fail validation
 * with a 400 naming the parameter.
 */
export function IntegerParam(min: number, max: number): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }: { value: unknown }) => (typeof value === 'string' && DECIMAL.test(value) ? Number(value) : value)),
    IsInt({ message: ({ property }) => `${property} must be a whole number written in decimal digits` }),
    Min(min),
    Max(max),
  );
}
