// The built-in operator and aggregator registries: each operator is one file exporting a plain object.
// Custom operators are modules next to the pipeline (`op: ./operators/my-op.ts`) exporting the same shape.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkRegularFile, fileLimits } from '../engine/bounded-read.js';
import { importModule } from '../engine/import-module.js';
import type { Aggregator, Operator } from '../engine/types.js';
import { countAgg } from './aggregators/count.js';
import { maxAgg, meanAgg, medianAgg, minAgg, percentileAgg, sumAgg } from './aggregators/numeric.js';
import { flaggedAgg, sortedAgg } from './aggregators/lists.js';
import { count } from './count.js';
import { distinct } from './distinct.js';
import { histogram } from './histogram.js';
import { pauses } from './pauses.js';
import { rate } from './rate.js';
import { revisions } from './revisions.js';
import { first, last, lastN, max, min, sum } from './simple.js';
import { slidingWindow } from './sliding-window.js';
import { streak } from './streak.js';
import { topK } from './top-k.js';
import { tumblingWindow } from './tumbling-window.js';
import { reconstructText } from './reconstruct-text.js';
import { sessionWindow } from './session-window.js';
import { stats } from './stats.js';
import { timeOnTask } from './time-on-task.js';
import { wordsPerMinute } from './words-per-minute.js';

export const builtinOperators: ReadonlyMap<string, Operator> = new Map<string, Operator>(
  [
    count, sum, min, max, stats, first, last, lastN, distinct, topK, histogram, rate, timeOnTask, streak,
    tumblingWindow, slidingWindow, sessionWindow, reconstructText, wordsPerMinute, pauses, revisions,
  ].map((op) => [op.name, op as Operator]),
);

export const builtinAggregators: ReadonlyMap<string, Aggregator> = new Map<string, Aggregator>(
  [countAgg, sumAgg, meanAgg, minAgg, maxAgg, medianAgg, percentileAgg, sortedAgg, flaggedAgg].map((a) => [a.name, a as Aggregator]),
);

/** True when `op:` names a module rather than a built-in. */
export function isCustomOperatorSpec(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || isAbsolute(spec);
}

/** Load a custom operator module (.js, .mjs or .ts) and check it has the Operator shape. */
export async function loadCustomOperator(spec: string, baseDir: string): Promise<Operator> {
  const file = resolve(baseDir, spec);
  let mod: Record<string, unknown>;
  try {
    // A regular file of bounded size: import() of /dev/zero or a FIFO would read or wait for ever.
    checkRegularFile(file, fileLimits.source());
    if (/\.(c|m)?ts$/.test(file)) {
      const { tsImport } = await importModule<typeof import('tsx/esm/api')>('tsx/esm/api');
      mod = (await tsImport(pathToFileURL(file).href, import.meta.url)) as Record<string, unknown>;
    } else {
      mod = await importModule(pathToFileURL(file).href);
    }
  } catch (err) {
    throw new Error(`cannot load operator module '${spec}': ${(err as Error).message.split('\n')[0]}`);
  }
  const op = operatorIn(mod);
  const missing = ['name', 'params', 'init', 'reduce'].filter((k) => !op || (op as Record<string, unknown>)[k] === undefined);
  if (!op || missing.length) {
    throw new Error(`'${spec}' does not export an operator (default export or \`operator\`): missing ${missing.join(', ')}; found ${describeExports(mod)}`);
  }
  if (typeof op.init !== 'function' || typeof op.reduce !== 'function') throw new Error(`'${spec}': init and reduce must be functions`);
  return { summary: '', example: '', ...op } as Operator;
}

/**
 * The operator a module exports. A .ts file in a folder whose package.json does not say `"type": "module"`
 * (or that has none: a folder of one's own) is loaded as CommonJS, so its `export default` arrives as
 * `default.default`: look there too.
 */
function operatorIn(mod: Record<string, unknown>): Partial<Operator> | undefined {
  const candidates = [mod.default, mod.operator, (mod.default as Record<string, unknown> | undefined)?.default, (mod.default as Record<string, unknown> | undefined)?.operator];
  const objects = candidates.filter((c): c is Partial<Operator> => c !== null && typeof c === 'object');
  return objects.find((c) => typeof c.reduce === 'function') ?? objects.find((c) => 'name' in c) ?? objects[0];
}

/** What a module that is not an operator does export, for the error message. */
function describeExports(loaded: Record<string, unknown>): string {
  // Loaded as CommonJS: the module's exports are the default export's fields.
  const inner = loaded.default as Record<string, unknown> | undefined;
  const mod = inner && typeof inner === 'object' && Object.hasOwn(inner, 'default') ? inner : loaded;
  const shown = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? `an object with {${Object.keys(v as object).join(', ')}}` : `a ${typeof v}`);
  const names = Object.keys(mod).filter((k) => k !== '__esModule' && k !== 'module.exports');
  if (!names.length) return 'no exports';
  return names.map((k) => `${k === 'default' ? 'a default export' : `'${k}'`}: ${shown(mod[k])}`).join('; ');
}
