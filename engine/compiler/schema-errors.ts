// ajv's errors as the compiler reports them.
import type { ErrorObject } from 'ajv';

/**
 * ajv reports every branch of an anyOf (a duration is a number OR a pattern string): keep one error per
 * value, described by the schema's own description when it has one.
 */
export function oneErrorPerPath(errors: ErrorObject[]): ErrorObject[] {
  const anyOf = new Map<string, ErrorObject>();
  for (const e of errors) if (e.keyword === 'anyOf' || e.keyword === 'oneOf') anyOf.set(e.instancePath, e);
  const out: ErrorObject[] = [];
  for (const e of errors) {
    const group = anyOf.get(e.instancePath);
    if (!group) out.push(e);
    else if (e === group) {
      const schema = e.parentSchema as { description?: string; anyOf?: unknown } | undefined;
      const duration = JSON.stringify(schema?.anyOf ?? '').includes('(ms|s|m|h|d)');
      const message = duration ? 'must be a duration: 500ms, 2s, 5m, 1h30m, or a number of milliseconds' : schema?.description ? `must be ${schema.description}` : e.message;
      out.push({ ...e, message });
    }
  }
  return out;
}
