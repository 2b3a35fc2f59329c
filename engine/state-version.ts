// A reducer's state version: a hash of everything that changes what its state folds. That is its own
// state-relevant definition and, for a reader of emitted streams, the versions of the reducers that emit
// them (which cover their own upstream in turn). So a state-breaking edit moves the version of the edited
// reducer and of every reader downstream, and a stateless edit (dashboards, aggregations, sources...) moves
// none. The compiler stamps these versions; `loflow plan`, run/serve's refusal, `state ls` and hot reload
// all compare them, so they cannot disagree about what an edit breaks.
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/** The fields of a reducer definition its state depends on (the rest of the pipeline does not feed state). */
export const STATE_FIELDS = ['op', 'params', 'key', 'from', 'where', 'map', 'select', 'time', 'emit', 'late'] as const;

const hash16 = (v: unknown) => createHash('sha256').update(canonicalJson(v)).digest('hex').slice(0, 16);

/**
 * The hash of a reducer's own definition, `key` expanded to what it reads (paths, composite parts, roster
 * lookup). For a reducer that reads only sources this is its version (the formula of earlier versions of
 * loflow, so their stores stay current).
 */
export function definitionVersion(def: Record<string, unknown>, from: string[], keyDefinition: unknown): string {
  return hash16({ op: def.op, params: def.params ?? {}, key: keyDefinition, from, where: def.where, map: def.map, select: def.select, time: def.time, emit: def.emit, late: def.late });
}

export interface VersionNode {
  name: string;
  /** definitionVersion() of the reducer. */
  definition: string;
  from: string[];
  emit?: string;
  late?: string;
}

/** The reducers (of any kind) that emit `stream`, by emit or late. */
export function producersOf<T extends { emit?: string; late?: string }>(reducers: Iterable<T>, stream: string): T[] {
  return [...reducers].filter((p) => p.emit === stream || p.late === stream);
}

/**
 * Every reducer's version: its definition alone when it reads only sources, else a hash of its definition
 * and, per stream it reads, the sorted versions of that stream's producers (their names are left out: a
 * renamed producer emits the same events). Producers are versioned before their readers (depth first), so
 * an edit anywhere upstream reaches every reader downstream. The graph must be acyclic (the compiler
 * reports cycles first).
 */
export function stateVersions(reducers: VersionNode[]): Map<string, string> {
  const versions = new Map<string, string>();
  const visiting = new Set<string>();
  const versionOf = (r: VersionNode): string => {
    const known = versions.get(r.name);
    if (known) return known;
    if (visiting.has(r.name)) throw new Error(`cycle through reducer '${r.name}': state versions need an acyclic pipeline`);
    visiting.add(r.name);
    const upstream = r.from
      .map((s) => [s, producersOf(reducers, s).map(versionOf).sort()] as const)
      .filter(([, v]) => v.length > 0);
    visiting.delete(r.name);
    const v = upstream.length ? hash16({ definition: r.definition, upstream }) : r.definition;
    versions.set(r.name, v);
    return v;
  };
  for (const r of reducers) versionOf(r);
  return versions;
}
