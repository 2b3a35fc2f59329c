// The last check of a pseudonymized export: does a learner id still occur anywhere in an event (a field
// nobody declared, an id inside a longer string)? Ids are matched as substrings of strings and keys, and
// as whole numbers; the field paths where they occur are reported (array positions as [*]).

/** Ids shorter than this are not searched for: "7" or "ab" would be found inside unrelated values. */
export const MIN_ID_LENGTH = 4;

const PSEUDONYM = /^[0-9a-f]{64}$/;

const EACH = Symbol('each');

/** `$.a.b[*]["odd key"]`: a key stack as a path. */
function spell(root: string, at: Array<string | typeof EACH>): string {
  let p = root;
  for (const k of at) p += k === EACH ? '[*]' : /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
  return p;
}

/** A position's first two characters, hashed into 16 bits (a collision only costs the exact check). */
const pair = (s: string, i: number) => ((s.charCodeAt(i) * 0x9e37) ^ s.charCodeAt(i + 1)) & 0xffff;

export class IdScanner {
  private readonly ids = new Set<string>();
  /** The distinct id lengths, so a string is checked with one Set lookup per (position, length). */
  private lengths: number[] = [];
  /** The ids' first two characters (hashed): a position whose two characters are none of them starts no id. */
  private readonly starts = new Uint8Array(0x10000);

  add(id: string): void {
    if (id.length < MIN_ID_LENGTH || this.ids.has(id)) return;
    this.ids.add(id);
    this.starts[pair(id, 0)] = 1;
    if (!this.lengths.includes(id.length)) this.lengths.push(id.length);
  }

  get size(): number {
    return this.ids.size;
  }

  /** The ids searched for. */
  list(): Iterable<string> {
    return this.ids;
  }

  /** The first id inside `s`, or undefined. */
  find(s: string): string | undefined {
    const starts = this.starts;
    for (let i = 0; i + MIN_ID_LENGTH <= s.length; i++) {
      if (starts[pair(s, i)] === 0) continue;
      for (const n of this.lengths) {
        if (i + n > s.length) continue;
        const sub = s.slice(i, i + n);
        if (this.ids.has(sub)) return sub;
      }
    }
    return undefined;
  }

  /** Calls found(path) for each place in `value` that holds an id. */
  scan(value: unknown, found: (path: string) => void, path = '$'): void {
    if (this.ids.size === 0) return;
    this.walk(value, found, path, []);
  }

  // The path is kept as a stack of keys and spelled out only where an id is found: building it for every
  // value cost more than the search itself.
  private walk(value: unknown, found: (path: string) => void, root: string, at: Array<string | typeof EACH>): void {
    if (typeof value === 'string') {
      // A pseudonym (64 hex digits) is not searched: a numeric id could occur in it by chance.
      if (this.find(value) !== undefined && !PSEUDONYM.test(value)) found(spell(root, at)); // the cheap test first
    } else if (typeof value === 'number') {
      if (this.ids.has(String(value))) found(spell(root, at));
    } else if (Array.isArray(value)) {
      at.push(EACH);
      for (const x of value) this.walk(x, found, root, at);
      at.pop();
    } else if (value && typeof value === 'object') {
      for (const k of Object.keys(value)) {
        at.push(k);
        if (this.find(k) !== undefined) found(`${spell(root, at)} (the key)`);
        this.walk((value as Record<string, unknown>)[k], found, root, at);
        at.pop();
      }
    }
  }
}
