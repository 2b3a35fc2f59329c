// Validators of the schemas loflow ships: the pipeline schema, built-in operators' and aggregators' params,
// the lo-event schema. ajv generating them takes ~400 ms of CPU, most of a cold `loflow validate`, so the
// build writes them once as standalone code (ajv's documented standalone mode) to dist/schemas/. Each is
// used only when made from the same schema (its hash is in the file); otherwise (sources run by tsx, a
// schema edited after the build) it is compiled at run time as before.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { builtinAggregators, builtinOperators } from '../../operators/registry.js';
import { trustedAjv } from '../event-schemas.js';
import { importModule } from '../import-module.js';
import { packageRoot } from '../paths.js';
import { requireCached } from '../vendor/code-cache.js';

/** CommonJS: ajv's standalone code `require`s its runtime helpers. */
const precompiledFile = join(packageRoot, 'dist/schemas/shipped.validate.cjs');
const ajvOptions = { allErrors: true, strict: false, allowUnionTypes: true, verbose: true } as const;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const readSchema = (file: string) => JSON.parse(readFileSync(join(packageRoot, file), 'utf8')) as object;

/** Every shipped schema by an identifier-safe key (standalone code exports each under its key). */
function shippedSchemas(): Map<string, object> {
  const all = new Map<string, object>([
    ['pipeline', readSchema('schemas/pipeline.schema.json')],
    ['test_file', testFileSchema()],
    ['event_lo_event', readSchema('schemas/lo-event.schema.json')],
  ]);
  for (const [name, op] of builtinOperators) all.set(`op_${name}`, op.params as object);
  for (const [name, agg] of builtinAggregators) all.set(`agg_${name}`, agg.params as object);
  return all;
}

type Bundle = Record<string, ValidateFunction> & { hashes?: Record<string, string> };
let bundle: Bundle | null | undefined;
const compiled = new Map<string, ValidateFunction>();

/** The validator of a shipped schema (`pipeline`, `op_<name>`, `agg_<name>`, `event_lo_event`). */
export function shippedValidator(key: string, schema: object): ValidateFunction {
  const known = compiled.get(key);
  if (known) return known;
  if (bundle === undefined) bundle = existsSync(precompiledFile) ? loadPrecompiled() : null;
  const pre = bundle?.[key];
  const validate = pre && bundle?.hashes?.[key] === sha256(JSON.stringify(schema)) ? pre : trustedAjv().compile(schema);
  compiled.set(key, validate);
  return validate;
}

/**
 * The standalone code: ~280 kB that Node would compile on every start, so built loflow runs it with V8's
 * code cache (engine/vendor/code-cache.ts). Sources (tests under vitest) require it as it is, writing no cache.
 */
function loadPrecompiled(): Bundle {
  if (import.meta.url.includes('/dist/')) return requireCached(precompiledFile).exports as Bundle;
  return createRequire(import.meta.url)(precompiledFile) as Bundle;
}

export function pipelineSchemaValidator(): ValidateFunction {
  return shippedValidator('pipeline', readSchema('schemas/pipeline.schema.json'));
}

/** A `<name>.test.yaml` file: the pipeline schema's testFile definition, standing alone. */
function testFileSchema(): object {
  const pipeline = readSchema('schemas/pipeline.schema.json') as { $defs?: object };
  return { $defs: pipeline.$defs, $ref: '#/$defs/testFile' };
}

export function testFileSchemaValidator(): ValidateFunction {
  return shippedValidator('test_file', testFileSchema());
}

/** Write dist/schemas/shipped.validate.cjs (run by `npm run build`). */
export async function precompileShippedSchemas(): Promise<string> {
  const { Ajv2020 } = await importModule<typeof import('ajv/dist/2020.js')>('ajv/dist/2020.js');
  const standalone = await importModule<{ default: typeof import('ajv/dist/standalone/index.js') }>('ajv/dist/standalone/index.js');
  const ajv = new Ajv2020({ ...ajvOptions, code: { source: true } });
  const refs: Record<string, string> = {};
  const hashes: Record<string, string> = {};
  for (const [key, schema] of shippedSchemas()) {
    // Our own id for each, so two schemas with the same $id (or none) do not collide.
    ajv.addSchema({ ...schema, $id: `loflow:shipped/${key}` });
    refs[key] = `loflow:shipped/${key}`;
    hashes[key] = sha256(JSON.stringify(schema));
  }
  const code = standalone.default.default(ajv, refs);
  mkdirSync(dirname(precompiledFile), { recursive: true });
  writeFileSync(precompiledFile, `${code}\nmodule.exports.hashes = ${JSON.stringify(hashes)};\n`);
  return precompiledFile;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  precompileShippedSchemas().then((f) => console.error(`wrote ${f}`));
}
