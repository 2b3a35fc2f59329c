// Event schemas: built-in ones by name (`lo-event`) or a JSON Schema file next to the pipeline.
// Each is compiled once with ajv; validation returns a readable reason or null.
import { fileLimits, readBoundedText } from './bounded-read.js';
import { isAbsolute, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { packageRoot } from './paths.js';
import { shippedValidator } from './compiler/shipped-schemas.js';

export const builtinEventSchemas: Record<string, string> = {
  'lo-event': 'schemas/lo-event.schema.json',
  any: '',
};

/**
 * ajv itself is loaded on first use (synchronously: it is CommonJS): the shipped schemas are precompiled
 * (compiler/shipped-schemas.ts), so a pipeline without its own schemas never needs it.
 */
function newAjv(validateSchema: boolean): Ajv2020 {
  const { Ajv2020: Ajv } = createRequire(import.meta.url)('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  return new Ajv({ allErrors: true, strict: false, allowUnionTypes: true, verbose: true, validateSchema });
}

let shared: Ajv2020 | undefined;
/** One ajv instance for the process: compiled validators are cached by schema. */
export function ajv(): Ajv2020 {
  shared ??= newAjv(true);
  return shared;
}

let trusted: Ajv2020 | undefined;
/**
 * For the schemas shipped with loflow (the pipeline schema, built-in operators' params, lo-event): the same
 * options without checking each schema against the JSON Schema meta-schema, whose compilation is most of a
 * cold `loflow validate` (~170 ms). test/compiler/builtin-schemas.test.ts checks them against it instead.
 */
export function trustedAjv(): Ajv2020 {
  trusted ??= newAjv(false);
  return trusted;
}

/** A readable one-line reason from ajv errors: `/auth/user_id must be string`. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'invalid';
  return errors
    .slice(0, 3)
    .map((e) => {
      const where = e.instancePath || '(event)';
      if (e.keyword === 'required') return `${where} must have '${(e.params as { missingProperty: string }).missingProperty}'`;
      if (e.keyword === 'additionalProperties') return `${where} has unknown field '${(e.params as { additionalProperty: string }).additionalProperty}'`;
      return `${where} ${e.message}`;
    })
    .join('; ');
}

/** Build the validator of a source's `schema:` (a built-in name or a file relative to baseDir). */
export function eventValidator(schema: string, baseDir: string): (event: unknown) => string | null {
  let file: string;
  let builtin = false;
  // Own names only (`schema: toString` is a file name, not Object.prototype.toString).
  if (Object.hasOwn(builtinEventSchemas, schema)) {
    if (builtinEventSchemas[schema] === '') return (e) => (e !== null && typeof e === 'object' && !Array.isArray(e) ? null : 'an event must be a JSON object');
    file = join(packageRoot, builtinEventSchemas[schema]);
    builtin = true;
  } else {
    file = isAbsolute(schema) ? schema : resolve(baseDir, schema);
  }
  const json = JSON.parse(readBoundedText(file, fileLimits.source())) as Record<string, unknown>;
  const id = typeof json.$id === 'string' ? json.$id : undefined;
  const validate: ValidateFunction = builtin ? shippedValidator(`event_${schema.replace(/\W/g, '_')}`, json) : (id && ajv().getSchema(id)) || ajv().compile(json);
  return (event) => {
    if (event === null || typeof event !== 'object' || Array.isArray(event)) return 'an event must be a JSON object';
    return validate(event) ? null : describeErrors(validate.errors);
  };
}
