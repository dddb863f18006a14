import { z } from 'zod';
import { RequestEnvelope } from './request.js';

/**
 * `null` means absent, for every optional field of a request and its payload (and of the objects
 * inside it: `options`, `transaction`, each of `statements`), in both dialects: the older Python
 * client sends every optional field, `null` when unset. Values inside `data`, `where` / `filters`
 * and `params` are left alone, where `null` is SQL NULL.
 */
export function dropAbsentNulls(schema: z.ZodType, value: unknown): unknown {
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable)
    return dropAbsentNulls(schema.unwrap() as z.ZodType, value);
  if (schema instanceof z.ZodArray) {
    return Array.isArray(value) ? value.map((v) => dropAbsentNulls(schema.element as z.ZodType, v)) : value;
  }
  if (!(schema instanceof z.ZodObject) || value === null || typeof value !== 'object' || Array.isArray(value))
    return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    const fieldSchema = (schema.shape as Record<string, z.ZodType | undefined>)[key];
    if (fieldSchema === undefined) {
      out[key] = field; // an addition of a newer peer: passed through untouched
    } else if (field === null && fieldSchema.safeParse(undefined).success) {
      // optional: absent
    } else {
      out[key] = dropAbsentNulls(fieldSchema, field);
    }
  }
  return out;
}

/** A request event as it arrives on the wire: `null` in an optional field is absent, then `RequestEnvelope`. */
export const WireRequestEnvelope = z.preprocess(
  (value) => dropAbsentNulls(RequestEnvelope, value),
  RequestEnvelope,
);

/**
 * The same rule for JSON Schema readers: every optional property of every object of a schema
 * also accepts `null`. Applied to the generated request schema.
 */
export function nullableOptionals(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(nullableOptionals);
  if (schema === null || typeof schema !== 'object') return schema;
  const node = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = nullableOptionals(value);
  const properties = node.properties;
  if (properties !== null && typeof properties === 'object') {
    const required = new Set(Array.isArray(node.required) ? (node.required as string[]) : []);
    const props: Record<string, unknown> = {};
    for (const [name, property] of Object.entries(out.properties as Record<string, unknown>)) {
      props[name] =
        required.has(name) || acceptsNull(property) ? property : { anyOf: [property, { type: 'null' }] };
    }
    out.properties = props;
  }
  return out;
}

function acceptsNull(property: unknown): boolean {
  if (property === null || typeof property !== 'object') return false;
  const p = property as Record<string, unknown>;
  if (p.type === 'null') return true;
  return Array.isArray(p.anyOf) && p.anyOf.some(acceptsNull);
}
