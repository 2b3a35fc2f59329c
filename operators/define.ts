// `import { defineOperator } from 'loflow/operator'`: the typed entry point for custom operators. It returns
// its argument unchanged; its use is the types, so an editor completes and checks name, params, init,
// reduce, view... with the state and params types inferred from init and prepare.
import type { Operator } from '../engine/types.js';

export type { Json, JsonSchema, LoEvent, Operator, ReduceContext } from '../engine/types.js';

export function defineOperator<S, P = Record<string, unknown>>(operator: Operator<S, P>): Operator<S, P> {
  return operator;
}
