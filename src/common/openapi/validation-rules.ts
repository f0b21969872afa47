import { getMetadataStorage } from 'class-validator';

/** Where `@ApiProperty` keeps a property's schema (the key @nestjs/swagger reads; not exported by it). */
const API_MODEL_PROPERTIES = 'swagger/apiModelProperties';

/** The parts of class-validator's stored rule this reads. */
interface ValidationMetadata {
  name?: string;
  propertyName: string;
  constraints?: unknown[];
  each?: boolean;
  groups?: string[];
}

type SchemaRules = Record<string, unknown>;

/**
 * The OpenAPI keywords that say what one class-validator rule enforces. Rules JSON Schema cannot
 * say (custom validators, cross-field checks) translate to nothing: they stay in descriptions.
 */
function rulesFor(rule: ValidationMetadata): SchemaRules | undefined {
  if (rule.groups && rule.groups.length > 0) return undefined;
  const constraints: unknown[] = rule.constraints ?? [];
  const [first, second] = constraints;
  switch (rule.name) {
    case 'matches': {
      const pattern =
        first instanceof RegExp
          ? first
          : typeof first === 'string'
            ? new RegExp(first, typeof second === 'string' ? second : '')
            : undefined;
      // A flag other than `u` changes what the expression means, and OpenAPI patterns carry no flags.
      if (!pattern || /[^u]/.test(pattern.flags)) return undefined;
      return { pattern: pattern.source };
    }
    case 'minLength':
      return { minLength: first };
    case 'maxLength':
      return { maxLength: first };
    case 'isLength':
      return { minLength: first, ...(second === undefined ? {} : { maxLength: second }) };
    case 'isNotEmpty':
      return { minLength: 1 };
    case 'min':
      return { minimum: first };
    case 'max':
      return { maximum: first };
    case 'isInt':
      return { type: 'integer' };
    case 'isBoolean':
      return { type: 'boolean' };
    case 'arrayMinSize':
      return { minItems: first };
    case 'arrayMaxSize':
      return { maxItems: first };
    default:
      return undefined;
  }
}

/** The JSON type of an array property's items, from `type: [String]` or `type: String, isArray: true`. */
function itemType(documented: Record<string, unknown>): string | undefined {
  const type: unknown = Array.isArray(documented.type) ? documented.type[0] : documented.isArray ? documented.type : undefined;
  if (type === String) return 'string';
  if (type === Number) return 'number';
  if (type === Boolean) return 'boolean';
  return typeof type === 'string' ? type : undefined;
}

/**
 * Copies what the validation decorators enforce (patterns, lengths, bounds, integer types) into the
 * Swagger metadata of the same properties, so the OpenAPI document states the rules the global
 * ValidationPipe applies, from the one place they are written. Only properties that are already
 * documented are touched, and a value written in `@ApiProperty` wins over a derived one. Runs
 * before the document is built; running it twice changes nothing.
 */
export function declareValidationRules(): void {
  const storage = getMetadataStorage() as unknown as { validationMetadatas: Map<unknown, ValidationMetadata[]> };
  for (const [target, rules] of storage.validationMetadatas) {
    if (typeof target !== 'function') continue; // rules registered by schema name, not by class
    for (const rule of rules) {
      const rules = rulesFor(rule);
      if (!rules) continue;
      // `{ each: true }` rules hold for every item of an array property.
      const derived: SchemaRules = rule.each ? { items: rules } : rules;
      const documented = Reflect.getMetadata(API_MODEL_PROPERTIES, target.prototype as object, rule.propertyName) as
        Record<string, unknown> | undefined;
      if (!documented) continue;
      const merged: Record<string, unknown> = { ...documented };
      for (const [keyword, value] of Object.entries(derived)) {
        if (keyword === 'items') {
          const items = (documented.items ?? {}) as SchemaRules;
          const type = items.type ?? itemType(documented);
          merged.items = { ...(type === undefined ? {} : { type }), ...(value as SchemaRules), ...items };
          continue;
        }
        if (keyword === 'type') {
          // `type: Number` from the design type becomes `integer`; an explicit other type stays.
          if (documented.type === undefined || documented.type === Number || documented.type === 'number') merged.type = value;
          continue;
        }
        if (documented[keyword] === undefined) merged[keyword] = value;
      }
      Reflect.defineMetadata(API_MODEL_PROPERTIES, merged, target.prototype as object, rule.propertyName);
    }
  }
}
