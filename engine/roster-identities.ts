// One student is one key whichever identity arrives: a roster's `aliases:` columns (e.g. google_id, email)
// hold other ids of the same member, so a WebSocket identity `gc-<Google id>`, an email, an `ls-<tag>` or
// a token's user resolves to the roster's member id. Rosters are tried in declaration order. An alias
// naming two members, or another member's id, is a compile error: it would merge two students.
import type { CsvRoster } from './roster.js';

/** Identity method prefixes (engine/server/identity.ts): `gc-123` and `123` in a cell are the same id. */
const PREFIX = /^(gc|ls)-(.+)$/;

/** The forms an id is known by: as written, trimmed; emails case-insensitively; without a method prefix. */
function forms(id: string): string[] {
  const t = id.trim();
  if (t === '') return [];
  const out = [t.includes('@') ? t.toLowerCase() : t];
  const m = PREFIX.exec(t);
  if (m) out.push(m[2]);
  return out;
}

export interface IdentityResolver {
  /** The roster member an identity names (itself when it is a member id), or undefined. */
  resolve(id: string): string | undefined;
  /** The rosters and columns used, for messages. */
  readonly describe: string;
}

/** Builds the resolver, or the problems that make the aliases ambiguous (one message each). */
export function rosterIdentities(rosters: Array<{ roster: CsvRoster; aliases: string[] }>): { resolver?: IdentityResolver; problems: string[] } {
  const byAlias = new Map<string, string>();
  const members = new Set<string>();
  const problems: string[] = [];
  for (const { roster } of rosters) for (const m of roster.memberIds()) members.add(m);
  for (const { roster, aliases } of rosters) {
    const own = new Map<string, string>(); // this roster's aliases: a conflict within one roster is an error
    for (const member of roster.memberIds()) {
      for (const column of aliases) {
        const cell = roster.column(member, column) ?? '';
        for (const f of forms(cell)) {
          if (f === member) continue;
          if (members.has(f)) problems.push(`roster '${roster.name}': ${column} '${cell}' of member '${member}' is the id of another member`);
          const seen = own.get(f);
          if (seen !== undefined && seen !== member) problems.push(`roster '${roster.name}': ${column} '${cell}' names two members ('${seen}' and '${member}')`);
          own.set(f, member);
          // An earlier roster wins: rosters are tried in declaration order.
          if (!byAlias.has(f)) byAlias.set(f, member);
        }
      }
    }
  }
  if (problems.length || rosters.length === 0) return { problems };
  const describe = rosters.map((r) => `${r.roster.name}: ${r.aliases.join(', ')}`).join('; ');
  return {
    problems,
    resolver: {
      describe,
      resolve(id: string): string | undefined {
        if (members.has(id)) return id;
        // A prefix is stripped only to look up aliases: `ls-s-0002` is not member s-0002.
        for (const f of forms(id)) {
          const m = byAlias.get(f);
          if (m !== undefined) return m;
        }
        return undefined;
      },
    },
  };
}
