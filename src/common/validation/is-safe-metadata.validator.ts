import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { ValidationOptions, registerDecorator } from 'class-validator';
import { Optional } from './optional.js';

export const METADATA_LIMITS = { maxBytes: 16 * 1024, maxDepth: 4, maxKeys: 100 } as const;

/**
 * Client-supplied free-form metadata is stored as given, so it must not smuggle Mongo operators
 * (`$`-prefixed keys), dotted paths, or prototype keys, and must stay small.
 */
export function IsSafeMetadata(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyKey) =>
    registerDecorator({
      name: 'isSafeMetadata',
      target: target.constructor,
      propertyName: propertyKey as string,
      options,
      validator: {
        validate: (value: unknown) => metadataProblem(value) === undefined,
        defaultMessage: (args) => `${args?.property ?? 'metadata'} ${metadataProblem(args?.value) ?? 'is invalid'}`,
      },
    });
}

export function metadataProblem(value: unknown): string | undefined {
  if (!isPlainObject(value)) return 'must be a JSON object';
  const json = JSON.stringify(value);
  if (Buffer.byteLength(json, 'utf8') > METADATA_LIMITS.maxBytes) {
    return `must be at most ${METADATA_LIMITS.maxBytes} bytes as JSON`;
  }
  let keys = 0;
  const visit = (node: unknown, depth: number): string | undefined => {
    if (Array.isArray(node)) {
      if (depth > METADATA_LIMITS.maxDepth) return `must not nest deeper than ${METADATA_LIMITS.maxDepth} levels`;
      for (const item of node) {
        const problem = visit(item, depth + 1);
        if (problem) return problem;
      }
      return undefined;
    }
    if (!isPlainObject(node)) return undefined;
    if (depth > METADATA_LIMITS.maxDepth) return `must not nest deeper than ${METADATA_LIMITS.maxDepth} levels`;
    for (const [key, child] of Object.entries(node)) {
      keys += 1;
      if (keys > METADATA_LIMITS.maxKeys) return `must have at most ${METADATA_LIMITS.maxKeys} keys in all`;
      if (key.startsWith('$') || key.includes('.') || key === '__proto__' || key === 'constructor' || key === 'prototype') {
        return `must not contain the key "${key}" (keys may not start with $, contain dots or name prototypes)`;
      }
      const problem = visit(child, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  };
  return visit(value, 1);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

/** An optional, client-supplied metadata object, documented and validated the same everywhere. */
export function OptionalMetadata(
  description = 'Free-form JSON, at most 16 KB, 4 levels and 100 keys in all; keys may not start with $, contain dots or control characters, or name prototypes.',
): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({
      type: 'object',
      additionalProperties: true,
      maxProperties: METADATA_LIMITS.maxKeys,
      description,
    }),
    Optional(),
    IsSafeMetadata(),
  );
}
