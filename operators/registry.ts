// The built-in operator and aggregator registries: each operator is one file exporting a plain object.
import type { Aggregator, Operator } from '../engine/types.js';
import { count } from './count.js';

export const builtinOperators: ReadonlyMap<string, Operator> = new Map<string, Operator>(
  [count].map((op) => [op.name, op]),
);

export const builtinAggregators: ReadonlyMap<string, Aggregator> = new Map<string, Aggregator>([]);
