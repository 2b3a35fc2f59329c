// The last check of a pseudonymized export: does a learner id still occur anywhere in an event (a field
// nobody declared, an id inside a longer string)? Ids are matched as substrings of strings and keys, and
// as whole numbers; the field paths where they occur are reported (array positions as [*]).

/** Ids shorter than this are not searched for: "7" or "ab" would be found inside unrelated values. */
export const MIN_ID_LENGTH = 4;

const PSEUDONYM = /^[0-9a-f]{64}$/;

const pair = (s: string, i: number) => (s.charCodeAt(i) << 16) | s.charCodeAt(i + 1);

export class IdScanner {
  private readonly ids = new Set<string>();
  /** The distinct id lengths, so a string is checked with one Set lookup per (position, length). */
  private lengths: number[] = [];
  /** The ids' first two characters: a position whose two characters are none of them starts no id. */
  private readonly starts = new Set<number>();

  add(id: string): void {
    if (id.length < MIN_ID_LENGTH || this.ids.has(id)) return;
    this.ids.add(id);
    this.starts.add(pair(id, 0));
    if (!this.lengths.includes(id.length)) this.lengths.push(id.length);
  }

  get size(): number {
    return this.ids.size;
  }

  /** The first id inside `s`, or undefined. */
  find(s: string): string | undefined {
    for (let i = 0; i + MIN_ID_LENGTH <= s.length; i++) {
      if (!this.starts.has(pair(s, i))) continue;
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
    if (typeof value === 'string') {
      // A pseudonym (64 hex digits) is not searched: a numeric id could occur in it by chance.
      if (!PSEUDONYM.test(value) && this.find(value) !== undefined) found(path);
    } else if (typeof value === 'number') {
      if (this.ids.has(String(value))) found(path);
    } else if (Array.isArray(value)) {
      for (const x of value) this.scan(x, found, `${path}[*]`);
    } else if (value && typeof value === 'object') {
      for (const [k, x] of Object.entries(value)) {
        const p = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
        if (this.find(k) !== undefined) found(`${p} (the key)`);
        this.scan(x, found, p);
      }
    }
  }
}
