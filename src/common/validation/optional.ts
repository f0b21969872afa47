import { ValidateIf } from 'class-validator';

/**
 * An optional property: it may be left out, but when present (`null` included) it must pass its
 * rules. `@IsOptional()` also skips the rules for `null`, which let `{"status": null}` through to
 * the store; keep it only for properties documented as nullable.
 */
export function Optional(): PropertyDecorator {
  return ValidateIf((_object: unknown, value: unknown) => value !== undefined);
}
