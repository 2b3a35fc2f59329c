// What `loflow deadletter replay` sends for each dead letter, and under which id. Events held by a WebSocket
// that never identified itself (lo_event sends its backlog before its lock_fields on every reconnect) carry
// no student: an identity map (CSV `path,value,user`: "the event whose <path> is <value> is <user>'s", e.g.
// $.metadata.sessionTag) says whose they are, and the roster's aliases turn that user (gc-<id>, an email)
// into the member id. Each letter is re-sent as producer `dl-<hash of the letter>`, sequence 0: the server's
// log drops a second send of the same letter (a replay run twice, a retry after a lost answer, a letter
// written twice by a retried batch), so a dead letter counts once however often it is replayed.
import { createHash } from 'node:crypto';
import { fileLimits, readBoundedText } from '../bounded-read.js';
import { canonicalJson } from '../canonical-json.js';
import { compilePath, type Accessor } from '../jsonpath.js';
import { parseCsv } from '../roster.js';
import type { IdentityResolver } from '../roster-identities.js';
import type { DeadLetter, LoEvent } from '../types.js';

/** Refused because no identity arrived (or it was only claimed): re-fed only when the map names the student. */
const NEEDS_IDENTITY = /^(no identity|lock_fields over their limit|not authenticated)/;
/** A deliberate refusal the operator must lift at its source, not by a replay. */
const NEVER = /^user '.*' is blocklisted$/;

export type Plan =
  | { send: true; producer: string; event: LoEvent; user?: string }
  | { send: false; why: string };

/** The letter's id: the same letter (stream, event, reason, time, stage) always gives the same id. */
export function letterId(l: DeadLetter): string {
  const h = createHash('sha256').update(canonicalJson({ stream: l.stream, event: l.event ?? null, reason: l.reason, at: l.at, stage: l.stage ?? null }));
  return `dl-${h.digest('hex').slice(0, 32)}`;
}

export interface IdentityMap {
  /** The user of the first row whose path has its value in the event, and that row's description. */
  userOf(event: unknown): { user: string; row: string } | undefined;
}

/** Reads an identity map CSV: header `path,value,user`; each row a JSON path, a value and a user id. */
export function loadIdentityMap(file: string): IdentityMap {
  const rows = parseCsv(readBoundedText(file, fileLimits.roster(), `identity map ${file}:`));
  const header = rows[0]?.map((h) => h.trim());
  if (!header || header.join(',') !== 'path,value,user') throw new Error(`identity map ${file}: the header must be path,value,user (got ${header?.join(',') ?? 'nothing'})`);
  const entries: Array<{ get: Accessor; path: string; value: string; user: string }> = [];
  const paths = new Map<string, Accessor>();
  rows.slice(1).forEach((r, i) => {
    const [path, value, user] = r.map((c) => c.trim());
    if (!path || !value || !user) throw new Error(`identity map ${file}: row ${i + 2} needs a path, a value and a user`);
    let get = paths.get(path);
    if (!get) {
      try {
        get = compilePath(path);
      } catch (err) {
        throw new Error(`identity map ${file}: row ${i + 2}: ${(err as Error).message}`);
      }
      paths.set(path, get);
    }
    entries.push({ get, path, value, user });
  });
  return {
    userOf(event) {
      for (const e of entries) {
        const v = e.get(event);
        if ((typeof v === 'string' || typeof v === 'number') && String(v) === e.value) return { user: e.user, row: `${e.path} = ${e.value}` };
      }
      return undefined;
    },
  };
}

/** What to do with one letter: send which event under which producer id, or keep it and why. */
export function planLetter(l: DeadLetter, map: IdentityMap | undefined, identities: IdentityResolver | undefined): Plan {
  if (l.event === null || l.event === undefined || typeof l.event !== 'object' || Array.isArray(l.event)) return { send: false, why: 'no event (the input did not parse)' };
  if (NEVER.test(l.reason)) return { send: false, why: 'refused on purpose (blocklist): lift it at the source' };
  const producer = letterId(l);
  if (!NEEDS_IDENTITY.test(l.reason)) return { send: true, producer, event: l.event as LoEvent };
  const hit = map?.userOf(l.event);
  if (!hit) return { send: false, why: map ? 'no row of the identity map matches it' : 'no identity: give --identities map.csv' };
  const member = identities?.resolve(hit.user) ?? hit.user;
  // Shaped as the WebSocket ingest shapes an identified event: auth, and the connection as `server`.
  const { connection, auth: _none, ...rest } = l.event as LoEvent;
  const event: LoEvent = {
    ...rest,
    auth: { user_id: member, method: 'deadletter_replay', authenticated: false, ...(member !== hit.user ? { identity: hit.user } : {}), mapped_by: hit.row },
    ...(connection && typeof connection === 'object' ? { server: { time: l.at / 1000, ...connection } } : {}),
  };
  return { send: true, producer, event, user: member };
}
