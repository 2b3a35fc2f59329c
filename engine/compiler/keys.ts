// The `keys:` section: what a reducer's state is per (a student, a document, a class from a roster).
import { compilePath, copierOf, JsonPathError } from '../jsonpath.js';
import type { LoEvent } from '../types.js';
import { hasName, type CompileCtx, type KeyInfo } from './context.js';
import type { Rosters } from './rosters.js';
import { didYouMean, type Path } from './source-map.js';

/** The `keys:` section: JSON path keys, composites of them, then roster lookups (which refer to both). */
export function compileKeys(ctx: CompileCtx, rosters: Rosters): void {
  const defs = (ctx.spec.keys ?? {}) as Record<string, any>;
  // A key that looks members up in a roster with `aliases:` names the member whichever identity an event
  // carries (gc-<Google id>, an email, ls-<tag>): one student, one key, from every source (HTTP batches and
  // replays as well as the WebSocket, which resolves at sign-on).
  const aliased = new Set(rosters.identityRosters.map((r) => r.roster.name));
  const resolver = rosters.identities;
  const resolvedKeys = new Set(
    Object.values(defs)
      .filter((d: any) => d && typeof d === 'object' && !Array.isArray(d) && aliased.has(d.lookup) && typeof d.by === 'string')
      .map((d: any) => d.by as string),
  );
  const pathKey = (name: string, path: string, at: Path): KeyInfo | undefined => {
    try {
      const get = compilePath(path);
      const raw = (e: LoEvent) => {
        const v = get(e);
        return v === undefined || v === null || typeof v === 'object' ? undefined : String(v);
      };
      const extract =
        resolver && resolvedKeys.has(name)
          ? (e: LoEvent) => {
              const v = raw(e);
              return v === undefined ? undefined : (resolver.resolve(v) ?? v);
            }
          : raw;
      return {
        key: {
          name,
          components: [name],
          extract,
        },
        definition: path,
        paths: [path],
      };
    } catch (err) {
      if (err instanceof JsonPathError) ctx.err(at, `bad JSON path: ${err.message}`, { inner: err.offset });
      else throw err;
      return undefined;
    }
  };
  // Paths first, then composites and lookups, which refer to other keys.
  for (const [name, def] of Object.entries(defs)) {
    if (typeof def === 'string') {
      const k = pathKey(name, def, ['keys', name]);
      if (k) ctx.keys.set(name, k);
    }
  }
  for (const [name, def] of Object.entries(defs)) {
    if (Array.isArray(def)) {
      const parts: KeyInfo[] = [];
      def.forEach((component: string, i: number) => {
        const k = ctx.keys.get(component);
        if (!k) ctx.err(['keys', name, i], `unknown key '${component}' in composite key '${name}'`, { hint: didYouMean(component, Object.keys(defs)) });
        else if (k.key.components.length > 1 || k.key.lookup) ctx.err(['keys', name, i], `a composite key's parts must be JSON path keys ('${component}' is not)`);
        else parts.push(k);
      });
      if (parts.length !== def.length) continue;
      const getters = parts.map((p) => p.key.extract);
      ctx.keys.set(name, {
        key: {
          name,
          components: def,
          extract: (e) => {
            let out = '';
            for (let i = 0; i < getters.length; i++) {
              const v = getters[i](e);
              if (v === undefined) return undefined;
              out = i === 0 ? v : out + '|' + v;
            }
            return out;
          },
        },
        definition: parts.map((p) => p.definition),
        paths: parts.flatMap((p) => p.paths),
      });
    }
  }
  lookupKeys(ctx, rosters, defs);
  for (const info of ctx.keys.values()) {
    const copiers = info.paths.map(copierOf);
    info.key.paths = info.paths;
    info.key.copy = (from, to) => {
      for (const c of copiers) c(from, to);
    };
  }
}

function lookupKeys(ctx: CompileCtx, rosters: Rosters, defs: Record<string, any>): void {
  for (const [name, def] of Object.entries(defs)) {
    if (def && typeof def === 'object' && !Array.isArray(def)) {
      const roster = rosters.rosterFiles.get(def.lookup);
      const by = ctx.keys.get(def.by);
      if (!roster) {
        if (!hasName(ctx.spec.rosters, def.lookup)) ctx.err(['keys', name, 'lookup'], `unknown roster '${def.lookup}'`, { hint: didYouMean(def.lookup, Object.keys(ctx.spec.rosters ?? {})) });
        continue;
      }
      if (!by) {
        ctx.err(['keys', name, 'by'], `unknown key '${def.by}'`, { hint: didYouMean(def.by, Object.keys(defs)) });
        continue;
      }
      if (!roster.hasColumn(def.column)) {
        ctx.err(['keys', name, 'column'], `roster '${def.lookup}' has no column '${def.column}'`, { hint: didYouMean(def.column, roster.header) });
        continue;
      }
      const grouped = roster.groupedBy(def.column);
      const byExtract = by.key.extract;
      ctx.keys.set(name, {
        key: {
          name,
          components: [name],
          extract: (e) => {
            const m = byExtract(e);
            return m === undefined ? undefined : grouped.groupOf(m);
          },
          lookup: { roster: grouped, by: def.by, column: def.column },
        },
        definition: { lookup: def.lookup, by: by.definition, column: def.column },
        paths: by.paths,
      });
    }
  }
}
