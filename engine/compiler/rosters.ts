// The `rosters:` section: who is in which class (CSV files, OneRoster, Google Classroom) and, with
// `aliases:`, which identities (email, Google id) name the same student.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadRoster, type CsvRoster } from '../roster.js';
import { loadRosterFromSource } from '../roster/sources.js';
import { rosterIdentities, type IdentityResolver } from '../roster-identities.js';
import type { CompileCtx } from './context.js';
import { didYouMean } from './source-map.js';

export interface Rosters {
  rosterFiles: Map<string, CsvRoster>;
  /** Rosters with `aliases:`, in declaration order. */
  identityRosters: Array<{ roster: CsvRoster; aliases: string[] }>;
  /** The resolver built from them (undefined: no aliases). */
  identities: IdentityResolver | undefined;
}

/** The `rosters:` section: CSV files and other sources, and the identity aliases across them. */
export function compileRosters(ctx: CompileCtx): Rosters {
  const rosterFiles = new Map<string, CsvRoster>();
  const identityRosters: Rosters['identityRosters'] = [];
  for (const [name, def] of Object.entries<Record<string, any>>(ctx.spec.rosters ?? {})) {
    if (def.source !== undefined && def.source !== 'csv') {
      // OneRoster, Google Classroom...: engine/roster/sources.ts (errors name file and line).
      try {
        const roster = loadRosterFromSource(name, def, ctx.baseDir);
        rosterFiles.set(name, roster);
        // OneRoster and Classroom rows carry email and google_id: aliases map identities to them too.
        if (Array.isArray(def.aliases)) aliases(ctx, identityRosters, name, roster, def.aliases);
      } catch (err) {
        ctx.err(['rosters', name], (err as Error).message);
      }
      continue;
    }
    const file = resolve(ctx.baseDir, def.file);
    if (!existsSync(file)) {
      ctx.err(['rosters', name, 'file'], `roster file not found: ${file}`);
      continue;
    }
    try {
      const roster = loadRoster(name, file, def.member);
      rosterFiles.set(name, roster);
      if (Array.isArray(def.aliases)) aliases(ctx, identityRosters, name, roster, def.aliases);
    } catch (err) {
      ctx.err(['rosters', name], (err as Error).message);
    }
  }
  const { resolver, problems } = rosterIdentities(identityRosters);
  for (const p of problems) ctx.err(['rosters'], p);
  return { rosterFiles, identityRosters, identities: resolver };
}

/** A roster's identity alias columns must exist (a typo would silently leave students split in two). */
function aliases(ctx: CompileCtx, identityRosters: Rosters['identityRosters'], name: string, roster: CsvRoster, columns: unknown[]): void {
  const ok: string[] = [];
  columns.forEach((c, i) => {
    if (typeof c !== 'string') return; // the schema says why
    if (!roster.hasColumn(c)) ctx.err(['rosters', name, 'aliases', i], `roster '${name}' has no column '${c}'`, { hint: didYouMean(c, roster.header) });
    else ok.push(c);
  });
  if (ok.length) identityRosters.push({ roster, aliases: ok });
}
