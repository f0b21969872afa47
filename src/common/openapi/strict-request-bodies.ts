import type { OpenAPIObject } from '@nestjs/swagger';

type Schema = Record<string, unknown>;

interface RequestBody {
  required?: boolean;
  content?: Record<string, { schema?: unknown }>;
}

const REF_PREFIX = '#/components/schemas/';

/** Body classes the server refuses empty (`{}` is a 400 naming the properties to send). */
const NON_EMPTY_BODIES = new Set<string>();

/** Marks a body DTO that must carry at least one property; the document says `minProperties: 1`. */
export function RequiresSomeProperty(): ClassDecorator {
  return (target) => {
    NON_EMPTY_BODIES.add(target.name);
  };
}

/**
 * The global ValidationPipe refuses properties a DTO does not declare (`forbidNonWhitelisted`),
 * in the body and in every nested DTO it validates. This states that in the document:
 * `additionalProperties: false` on each schema a JSON request body reaches through `$ref`s, unless
 * the schema says otherwise itself (free-form `metadata` objects say `additionalProperties: true`).
 * Schemas used only in responses are left open: answers may grow new fields. Also: a body that
 * must not be empty says `minProperties: 1`, and one that may be left out is not `required`.
 */
export function forbidUndeclaredBodyProperties(document: OpenAPIObject): OpenAPIObject {
  const schemas = (document.components?.schemas ?? {}) as Record<string, Schema>;
  const seen = new Set<string>();
  const close = (schema: unknown): void => {
    if (typeof schema !== 'object' || schema === null) return;
    const node = schema as Schema;
    const ref = node.$ref;
    if (typeof ref === 'string' && ref.startsWith(REF_PREFIX)) {
      const name = ref.slice(REF_PREFIX.length);
      if (seen.has(name)) return;
      seen.add(name);
      close(schemas[name]);
      return;
    }
    if (node.type === 'object' && node.properties && node.additionalProperties === undefined) {
      node.additionalProperties = false;
    }
    for (const child of Object.values((node.properties ?? {}) as Record<string, unknown>)) close(child);
    close(node.items);
    for (const key of ['allOf', 'oneOf', 'anyOf'] as const) {
      if (Array.isArray(node[key])) (node[key] as unknown[]).forEach(close);
    }
  };
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item as Record<string, { requestBody?: RequestBody }>)) {
      const body = operation?.requestBody;
      const json = body?.content?.['application/json'];
      if (!body || !json) continue;
      close(json.schema);
      const ref = (json.schema as Schema | undefined)?.$ref;
      const name = typeof ref === 'string' && ref.startsWith(REF_PREFIX) ? ref.slice(REF_PREFIX.length) : undefined;
      const schema = name ? schemas[name] : undefined;
      if (!name || !schema) continue;
      if (NON_EMPTY_BODIES.has(name)) schema.minProperties = 1;
      // A body whose properties are all optional may be left out: the server reads no body as `{}`.
      const required = Array.isArray(schema.required) && schema.required.length > 0;
      if (!required && !NON_EMPTY_BODIES.has(name)) body.required = false;
    }
  }
  return document;
}

/**
 * In OpenAPI 3.0 `nullable: true` does not widen an `enum`: a nullable enum must list `null` itself,
 * or the document says null is refused where the server takes it (and clears the setting).
 */
export function listNullInNullableEnums(document: OpenAPIObject): OpenAPIObject {
  const visit = (node: unknown): void => {
    if (typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    const schema = node as Schema;
    const values = schema.enum;
    if (schema.nullable === true && Array.isArray(values) && !values.includes(null)) schema.enum = [...(values as unknown[]), null];
    Object.values(schema).forEach(visit);
  };
  visit(document.paths);
  visit(document.components);
  return document;
}
