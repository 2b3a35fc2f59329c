// Checks a field path read from a reducer's view (`time_on_task.active_ms`) against the operator's declared
// view schema, so a column that would always be empty (`score.avg` where the view has `mean`) is a compile
// error with a did-you-mean instead of a blank dashboard column and a null summary.
import { didYouMean } from '../did-you-mean.js';
import type { JsonSchema } from '../types.js';

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; additionalProperties?: boolean | Schema; items?: Schema; anyOf?: Schema[] };

/** Object schemas among a schema and its anyOf branches (a view may be null or an object). */
function objectBranches(s: Schema): Schema[] {
  return [s, ...(s.anyOf ?? [])].filter((b) => b.properties !== undefined || b.additionalProperties !== undefined || b.type === 'object');
}

/** Names people reach for that views spell otherwise (spelling distance alone would not suggest these). */
const synonyms: Record<string, string> = { avg: 'mean', average: 'mean', total: 'sum', std: 'stddev', sd: 'stddev', var: 'variance', n: 'count', number: 'count', minimum: 'min', maximum: 'max' };

function hintFor(seg: string, known: string[]): string {
  const synonym = synonyms[seg.toLowerCase()];
  return synonym && known.includes(synonym) ? `did you mean '${synonym}'?` : didYouMean(seg, known);
}

const typeName = (s: Schema) => (Array.isArray(s.type) ? s.type.join(' or ') : s.type);

/** Null when `field` can exist in a view of `schema`; else the problem and a hint. */
export function viewFieldProblem(schema: JsonSchema | undefined, field: string[]): { message: string; hint?: string } | null {
  let s = schema as Schema | undefined;
  for (let i = 0; i < field.length; i++) {
    if (!s) return null;
    const seg = field[i];
    const shown = field.slice(0, i).join('.') || 'the view';
    const objects = objectBranches(s);
    if (objects.length) {
      const props = Object.assign({}, ...objects.map((o) => o.properties ?? {})) as Record<string, Schema>;
      if (Object.hasOwn(props, seg)) {
        s = props[seg];
        continue;
      }
      const open = objects.find((o) => o.additionalProperties !== undefined && o.additionalProperties !== false);
      if (open) {
        s = open.additionalProperties === true ? undefined : (open.additionalProperties as Schema);
        continue;
      }
      const known = Object.keys(props);
      return { message: `${shown} has no field '${seg}' (it has ${known.join(', ') || 'no fields'})`, hint: hintFor(seg, known) };
    }
    if (s.type === 'array' || s.items) {
      if (!/^\d+$/.test(seg)) return { message: `${shown} is a list: '${seg}' is not an index` };
      s = s.items;
      continue;
    }
    if (s.type !== undefined) return { message: `${shown} is a ${typeName(s)}: it has no field '${seg}'` };
    return null; // an unconstrained schema ({}): anything may be there
  }
  return null;
}
