import type { NextFunction, Request, Response } from 'express';
import { type FieldError, ValidationFailedException } from '../errors/app-exceptions.js';

/**
 * Limits every client-supplied JSON value is held to, whatever route or socket event it is for:
 * HTTP bodies and query strings (`jsonGuardMiddleware`) and Socket.IO event payloads (the realtime
 * gateway) go through the same `findJsonProblem`, right after the JSON is parsed and before
 * anything else looks at it. DTOs add tighter, per-field limits on top.
 */
export const JSON_LIMITS = {
  /** Objects and arrays inside one another, the outermost counting as 1. */
  maxDepth: 32,
  /** Items in one array. */
  maxArrayLength: 1000,
} as const;

/** Keys that would reach, or shadow, an object's prototype once copied into a class or merged. */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** Control characters (C0, DEL, C1): nothing a key has a use for; NUL cannot even be stored in a key. */
const CONTROL_IN_KEY = /\p{Cc}/u;
/** A lone surrogate (no pair): not text, and not storable as UTF-8 (`u` mode pairs the others). */
const LONE_SURROGATE = /[\ud800-\udfff]/u;
const NUL = '\u0000';

interface Visit {
  value: unknown;
  depth: number;
  parent: Visit | null;
  key: string;
}

/**
 * The first problem in a parsed JSON value, or undefined: nesting deeper than the limit, an array
 * longer than the limit, a key that names a prototype or holds a control character, a string or
 * key with NUL or a lone surrogate. The walk uses its own stack, never recursion, and stops at the
 * depth limit, so a value nested 10,000 levels deep is refused in linear time without exhausting
 * the call stack. `field` is the dotted path of the offending value (`metadata.tags.3`).
 */
export function findJsonProblem(value: unknown): FieldError | undefined {
  const stack: Visit[] = [{ value, depth: 0, parent: null, key: '' }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const node = visit.value;
    if (typeof node === 'string') {
      if (node.includes(NUL)) return problem(visit, 'must not contain the NUL character (\\u0000)');
      if (LONE_SURROGATE.test(node)) return problem(visit, 'must be valid Unicode text (it holds a lone surrogate)');
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    const depth = visit.depth + 1;
    if (depth > JSON_LIMITS.maxDepth) return problem(visit, `must not nest objects and arrays deeper than ${JSON_LIMITS.maxDepth} levels`);
    if (Array.isArray(node)) {
      if (node.length > JSON_LIMITS.maxArrayLength) return problem(visit, `must have at most ${JSON_LIMITS.maxArrayLength} items`);
      for (let index = node.length - 1; index >= 0; index -= 1) {
        stack.push({ value: node[index] as unknown, depth, parent: visit, key: String(index) });
      }
      continue;
    }
    const keys = Object.keys(node);
    for (const key of keys) {
      const keyProblem = problemOfKey(key);
      if (keyProblem) return problem({ value: undefined, depth, parent: visit, key }, keyProblem);
    }
    for (let index = keys.length - 1; index >= 0; index -= 1) {
      const key = keys[index]!;
      stack.push({ value: (node as Record<string, unknown>)[key], depth, parent: visit, key });
    }
  }
  return undefined;
}

/** The 400 a problem answers: `VALIDATION_FAILED` with the field, as the validation pipe words it. */
export function jsonProblemException(found: FieldError): ValidationFailedException {
  return new ValidationFailedException([found], found.messages.join('; '));
}

/**
 * Express middleware placed right after the JSON body parser: the body and the query string of
 * every request are checked before routing, validation pipes or anything recursive see them.
 */
export function jsonGuardMiddleware(request: Request, _response: Response, next: NextFunction): void {
  const found = findJsonProblem(request.body) ?? findJsonProblem(request.query);
  next(found ? jsonProblemException(found) : undefined);
}

function problemOfKey(key: string): string | undefined {
  if (PROTOTYPE_KEYS.has(key)) return 'is not allowed: keys must not name an object prototype (__proto__, constructor, prototype)';
  if (key.includes(NUL)) return 'is not allowed: keys must not contain the NUL character (\\u0000)';
  if (CONTROL_IN_KEY.test(key)) return 'is not allowed: keys must not contain control characters';
  if (LONE_SURROGATE.test(key)) return 'is not allowed: keys must be valid Unicode text (this one holds a lone surrogate)';
  return undefined;
}

function problem(visit: Visit, message: string): FieldError {
  const field = pathOf(visit) || 'body';
  return { field, messages: [`${field} ${message}`] };
}

const MAX_SEGMENT = 64;

/** The dotted path of a visit; keys that are not plain text are shown JSON-escaped and long ones cut. */
function pathOf(visit: Visit): string {
  const segments: string[] = [];
  for (let at: Visit | null = visit; at?.parent; at = at.parent) {
    const plain = !CONTROL_IN_KEY.test(at.key) && !LONE_SURROGATE.test(at.key) && !at.key.includes('.');
    const shown = plain ? at.key : JSON.stringify(at.key);
    segments.push(shown.length > MAX_SEGMENT ? `${shown.slice(0, MAX_SEGMENT)}…` : shown);
  }
  return segments.reverse().join('.');
}
