import fc from 'fast-check';

/**
 * fast-check arbitraries derived from an OpenAPI 3.1 document (as the gateway serves it):
 * a valid value for each JSON schema, and mutations that make it wrong in the ways callers
 * do. Used by the fuzz suite (test/fuzz), so every endpoint added later is covered.
 */

export type Schema = {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  propertyNames?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  default?: unknown;
  nullable?: boolean;
};

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}

export interface Operation {
  method: string;
  path: string;
  summary?: string;
  security?: Record<string, unknown>[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { content?: Record<string, unknown> }>;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>;
  components?: { schemas?: Record<string, Schema> };
}

/** Every operation of the document, with its method and path. */
export function operationsOf(doc: OpenApiDocument): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ ...op, method: method.toUpperCase(), path })));
}

/** Values a string schema with a pattern also tries (the test's real subject id, …), when they match. */
export type KnownValues = readonly string[];

const DAY = 86_400_000;

/** A valid value of `schema` (references resolved against `doc`). */
export function valueOf(schema: Schema | undefined, doc: OpenApiDocument, known: KnownValues = [], depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 6) return fc.constant(null);
  if (schema.$ref) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    return valueOf(doc.components?.schemas?.[name], doc, known, depth + 1);
  }
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return fc.oneof(...alternatives.map((s) => valueOf(s, doc, known, depth + 1)));
  if (schema.allOf) return valueOf(Object.assign({}, ...schema.allOf), doc, known, depth + 1);
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : ['object'];
  return fc.oneof(...types.map((type) => valueOfType(type, schema, doc, known, depth)));
}

function valueOfType(type: string, schema: Schema, doc: OpenApiDocument, known: KnownValues, depth: number): fc.Arbitrary<unknown> {
  switch (type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -1_000);
      const max = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : 1_000_000);
      // Mostly small amounts (a real request), sometimes the bounds.
      const small = fc.integer({ min: Math.max(min, -5), max: Math.min(max, 50) });
      return fc.oneof({ weight: 4, arbitrary: small }, fc.constantFrom(Math.max(min, Number.MIN_SAFE_INTEGER), Math.min(max, Number.MAX_SAFE_INTEGER)));
    }
    case 'string': {
      if (schema.format === 'date-time') return fc.integer({ min: 1, max: 400 }).map((d) => new Date(Date.now() + d * DAY).toISOString());
      if (schema.pattern) {
        const pattern = new RegExp(schema.pattern);
        const matching = known.filter((k) => pattern.test(k));
        const generated = fc.stringMatching(pattern);
        return matching.length > 0 ? fc.oneof(fc.constantFrom(...matching), generated) : generated;
      }
      return fc.string({ minLength: Math.max(1, schema.minLength ?? 1), maxLength: Math.min(schema.maxLength ?? 20, 20) });
    }
    case 'array': {
      const minLength = schema.minItems ?? 0;
      return fc.array(valueOf(schema.items, doc, known, depth + 1), { minLength, maxLength: Math.max(minLength, Math.min(schema.maxItems ?? 3, 3)) });
    }
    default: {
      const properties = schema.properties ?? {};
      const required = new Set(schema.required ?? []);
      const entries = Object.entries(properties).map(([name, s]) => [name, valueOf(s, doc, known, depth + 1)] as const);
      if (entries.length === 0 && schema.additionalProperties && typeof schema.additionalProperties === 'object') {
        const keys = schema.propertyNames ? valueOf(schema.propertyNames, doc, known, depth + 1).map(String) : fc.string({ minLength: 1, maxLength: 8 });
        return fc.dictionary(keys, valueOf(schema.additionalProperties, doc, known, depth + 1), { maxKeys: 3 });
      }
      return fc.record(Object.fromEntries(entries), { requiredKeys: [...required].filter((k) => k in properties) });
    }
  }
}

/** What a mutation puts where a valid value was. */
export const HOSTILE_STRINGS = ['nul\u0000here', 'lone\ud800surrogate', '\udfff', '', ' ', 'ключ-✓', '../../etc/passwd', 'a|b', '%00', 'x'.repeat(600)];
export const HOSTILE_VALUES: unknown[] = [null, true, [], {}, 'text', -1, 0, 1.5, 1e308, -1e308, 2 ** 64, Number.MAX_SAFE_INTEGER + 2, ...HOSTILE_STRINGS];

/** Paths to every leaf (and every object member) of a JSON value. */
export function leafPaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value)) return value.length === 0 ? [path] : value.flatMap((v, i) => leafPaths(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    return entries.length === 0 ? [path] : [path, ...entries.flatMap(([k, v]) => leafPaths(v, [...path, k]))];
  }
  return [path];
}

/** `value` with the member at `path` replaced (undefined: removed). */
export function replaceAt(value: unknown, path: readonly (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path;
  if (Array.isArray(value)) return value.map((v, i) => (i === head ? replaceAt(v, rest, replacement) : v)).filter((v) => v !== undefined);
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const next = replaceAt(copy[head as string], rest, replacement);
    if (next === undefined) delete copy[head as string];
    else copy[head as string] = next;
    return copy;
  }
  return value;
}
