// Who a WebSocket student is, from what the connection sent (lock_fields and events), by the deployment's
// identity methods in order — Learning Observer's event-auth methods: `chromebook` names the student
// `gc-<Google id>` (from chrome_identity) and `local_storage` names them `ls-<user_tag>` (the device's tag
// from the extension's local storage); either is authenticated only when the device's tag is on the
// deployment's list. `test` trusts a claimed user_id (never authenticated), `guest` makes one up.
// `token` (a ?token= from the server's list) is decided when the socket opens, not here.
import type { LoEvent } from '../types.js';

export type IdentityMethod = 'token' | 'chromebook' | 'local_storage' | 'test' | 'guest';
export const identityMethods: readonly IdentityMethod[] = ['token', 'chromebook', 'local_storage', 'test', 'guest'];

export interface Identity {
  id: string;
  method: IdentityMethod;
  /** Verified by something the deployment holds (a token or a listed device tag), not only claimed. */
  authenticated: boolean;
  /** The id as the method gave it, when a roster alias mapped it to another member id (`id`). */
  identity?: string;
}

const nonEmpty = (v: unknown, max = 200): string | undefined => (typeof v === 'string' && v !== '' && v.length <= max ? v : undefined);

/** The device tag, wherever the client put it: top level, or in its local storage metadata. */
export function userTagOf(f: LoEvent): string | undefined {
  return nonEmpty(f.user_tag) ?? nonEmpty(f.localStorageInfo?.user_tag) ?? nonEmpty(f.local_storage?.user_tag);
}

/** A Google account id as Chrome reports it: digits only (anything else is not an id). */
function googleIdOf(f: LoEvent): string | undefined {
  const id = f.chrome_identity?.id;
  const s = typeof id === 'number' && Number.isSafeInteger(id) ? String(id) : id;
  return typeof s === 'string' && /^\d{1,40}$/.test(s) ? s : undefined;
}

/** The id a client claims: user_id, else chrome_identity's email, else its id (an empty email is no claim). */
export function claimedUser(f: LoEvent): string | undefined {
  return nonEmpty(f.user_id) ?? nonEmpty(f.chrome_identity?.email) ?? nonEmpty(f.chrome_identity?.id) ?? (typeof f.chrome_identity?.id === 'number' ? String(f.chrome_identity.id) : undefined);
}

/** The first method that identifies the connection from `fields`, or undefined (wait for more). */
export function identify(methods: readonly IdentityMethod[], fields: LoEvent, deviceTags: ReadonlySet<string>): Identity | undefined {
  for (const m of methods) {
    if (m === 'chromebook') {
      const gid = googleIdOf(fields);
      if (gid) return { id: `gc-${gid}`, method: m, authenticated: deviceTags.has(userTagOf(fields) ?? '\0') };
    } else if (m === 'local_storage') {
      const tag = userTagOf(fields);
      if (tag) return { id: `ls-${tag}`, method: m, authenticated: deviceTags.has(tag) };
    } else if (m === 'test') {
      const id = claimedUser(fields);
      if (id) return { id, method: m, authenticated: false };
    } else if (m === 'guest') {
      return { id: `guest-${Math.random().toString(36).slice(2, 10)}`, method: m, authenticated: false };
    }
  }
  return undefined;
}
