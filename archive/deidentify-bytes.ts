// De-identification on an event's DAG-CBOR bytes: the same result as deidentifier() (pseudonymize.ts) followed
// by encoding, and the same leak search as IdScanner.scan on the result, in one pass over the bytes. Fields
// on no declared path are copied as they are. Anything the byte path does not reproduce exactly (paths that
// overlap, so one rewrite sees another's result; tags, 64-bit lengths) throws NotPlain, and the caller
// takes the object path for that event or export.
import * as dagCbor from '@ipld/dag-cbor';
import { head, NotPlain, numberAt, Out, readHead, skip, text, bytesKey } from './cbor-bytes.js';
import { EACH, parseFieldPath } from './learners.js';
import { MIN_ID_LENGTH } from './id-scan.js';
import { pseudonym } from './pseudonymize.js';

/** A node of the path trie: what to do with the value here, or which children lead to a rewrite. */
interface Node {
  act: 'drop' | 'hmac' | null;
  keys: Map<string, Node> | null;
  each: Node | null;
  /** The keys as UTF-8 bytes, to match a map key without decoding it. */
  named: Array<{ key: Uint8Array; node: Node }>;
  /** Some child is dropped (a map here gets a new head). */
  drops: boolean;
}

const node = (): Node => ({ act: null, keys: null, each: null, named: [], drops: false });

/** The child of n under the map key b[from, to). */
function named(n: Node, b: Uint8Array, from: number, to: number): Node | null {
  const length = to - from;
  next: for (const c of n.named) {
    const k = c.key;
    if (k.length !== length) continue;
    for (let i = 0; i < length; i++) if (k[i] !== b[from + i]) continue next;
    return c.node;
  }
  return null;
}

/** A hash of b[from, to) (FNV-1a), for the pseudonym cache. */
function hashBytes(b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return h >>> 0;
}

const copyOf = (b: Uint8Array, from: number, to: number): Uint8Array => Uint8Array.prototype.slice.call(b, from, to);

function sameBytes(a: Uint8Array, b: Uint8Array, from: number, to: number): boolean {
  if (a.length !== to - from) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[from + i]) return false;
  return true;
}

/**
 * The trie of drops and pseudonymized paths, or null when the paths interact (one is a prefix of another,
 * or `[*]` beside a named child, or a path twice): rewritePaths applies them one after another, and its
 * result then depends on their order, which the byte path does not follow.
 */
export function pathTrie(drops: readonly string[], hmacs: readonly string[]): Node | null {
  const root = node();
  const add = (path: string, act: 'drop' | 'hmac'): boolean => {
    const segs = parseFieldPath(path);
    if (segs.length === 0) return true; // `$` itself: rewritePaths leaves the event alone
    let n = root;
    let parent = root;
    for (const s of segs) {
      if (n.act) return false;
      parent = n;
      let next: Node | undefined;
      if (s === EACH) {
        if (n.keys) return false;
        next = n.each ??= node();
      } else {
        // A key as text: Object.hasOwn treats 2 and '2' alike, on objects and arrays. `length` on an array
        // is an own property there: no such field is rewritten on bytes.
        const k = String(s);
        if (n.each || k === 'length') return false;
        n.keys ??= new Map();
        next = n.keys.get(k);
        if (!next) {
          n.keys.set(k, (next = node()));
          n.named.push({ key: Buffer.from(k, 'utf8'), node: next });
        }
      }
      n = next;
    }
    if (n.act || n.keys || n.each) return false;
    n.act = act;
    if (act === 'drop') parent.drops = true;
    return true;
  };
  // Drops go first in rewritePaths: a pseudonymized path at or under a dropped one finds nothing (a dropped
  // array item is null, and null stays null), so it is left out rather than called an overlap.
  const segs = (p: string) => parseFieldPath(p).map((x) => (x === EACH ? x : String(x)));
  const dropped = drops.map(segs);
  const under = (h: ReturnType<typeof segs>) => dropped.some((d) => d.length > 0 && d.length <= h.length && d.every((x, i) => x === h[i]));
  for (const d of drops) if (!add(d, 'drop')) return null;
  for (const h of hmacs) if (!under(segs(h)) && !add(h, 'hmac')) return null;
  return root;
}

const HEX = new Uint8Array(256);
for (const c of '0123456789abcdef') HEX[c.charCodeAt(0)] = 1;

/** The learner ids as UTF-8 byte sequences, for a substring search inside a string's bytes. */
export class ByteIdSearch {
  private readonly ids = new Set<string>();
  private readonly lengths: number[] = [];
  private readonly starts = new Uint8Array(0x10000);
  /** Ids that a number prints as (IdScanner tests numbers with String(value)). */
  readonly numeric = new Set<string>();

  constructor(ids: Iterable<string>) {
    for (const id of ids) {
      if (id.length < MIN_ID_LENGTH) continue;
      const b = Buffer.from(id, 'utf8');
      this.ids.add(b.toString('latin1'));
      this.starts[(b[0] << 8) | b[1]] = 1;
      if (!this.lengths.includes(b.length)) this.lengths.push(b.length);
      if (String(Number(id)) === id) this.numeric.add(id);
    }
  }

  get size(): number {
    return this.ids.size;
  }

  /** True when some id occurs in the UTF-8 bytes b[from, to) (UTF-8 is self-synchronizing: a byte match is a text match). */
  has(b: Uint8Array, from: number, to: number): boolean {
    const starts = this.starts;
    for (let i = from; i + 1 < to; i++) {
      if (starts[(b[i] << 8) | b[i + 1]] === 0) continue;
      for (const n of this.lengths) if (i + n <= to && this.ids.has(bytesKey(b, i, i + n))) return true;
    }
    return false;
  }
}

/** A pseudonym is 64 lowercase hex digits: IdScanner does not search those (a numeric id may occur by chance). */
function isPseudonym(b: Uint8Array, from: number, to: number): boolean {
  if (to - from !== 64) return false;
  for (let i = from; i < to; i++) if (HEX[b[i]] === 0) return false;
  return true;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

export class BytesDeidentifier {
  private readonly cache = new Map<string, string>();
  /** Encoded value -> encoded pseudonym, by a hash of the value's bytes (most values recur: one per learner). */
  private readonly encoded = new Map<number, Array<{ value: Uint8Array; out: Uint8Array }>>();
  private encodedSize = 0;
  private found: ((path: string) => void) | null = null;
  /** The key path to the item being walked: [start, end) of each key's text, or -1 for an array item. */
  private readonly kFrom: number[] = [];
  private readonly kTo: number[] = [];
  private b: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly root: Node,
    private readonly key: Buffer | null,
    private readonly search: ByteIdSearch | null,
  ) {}

  /**
   * Writes the de-identified event at b[from, ...) to out and returns where it ended; `found(path)` is called
   * for each place of the result that holds a learner id (as IdScanner.scan would). The input is copied in
   * runs between the places that change: most of an event goes in one copy.
   */
  rewrite(b: Uint8Array, from: number, out: Out, found: ((path: string) => void) | null): number {
    const search = this.search;
    if (found && search && search.size && search.numeric.size === 0) {
      // Ids are rare in a result: rewrite without the per-item search, looking for any id only in the runs of
      // input bytes copied (every string and key copied lies whole in one run, as UTF-8; the rest of the result
      // is pseudonyms, nulls and heads), and walk again, searching item by item, only on a hit. A number can
      // equal an id too, which a byte search does not see: with a numeric id the walk always searches.
      const start = out.length;
      this.hit = false;
      this.scanRuns = search;
      const end = this.run(b, from, out, null);
      this.scanRuns = null;
      if (!this.hit) return end;
      out.length = start;
    }
    return this.run(b, from, out, found);
  }

  private run(b: Uint8Array, from: number, out: Out, found: ((path: string) => void) | null): number {
    this.b = b;
    this.out = out;
    this.copied = from;
    this.found = this.search && this.search.size ? found : null;
    this.kFrom.length = 0;
    this.kTo.length = 0;
    const end = this.walk(from, this.root);
    this.flush(end);
    return end;
  }

  private out: Out = new Out();
  /** The input up to here is in out already (or left out on purpose). */
  private copied = 0;

  /** While set, each run copied is searched for ids; `hit` tells whether one was found. */
  private scanRuns: ByteIdSearch | null = null;
  private hit = false;

  private flush(to: number): void {
    if (to > this.copied) {
      if (this.scanRuns && !this.hit && this.scanRuns.has(this.b, this.copied, to)) this.hit = true;
      this.out.bytes(this.b, this.copied, to);
    }
    this.copied = to;
  }

  private pseud(id: string): string {
    let p = this.cache.get(id);
    if (p === undefined) {
      p = pseudonym(this.key!, id);
      if (this.cache.size < 1_000_000) this.cache.set(id, p);
    }
    return p;
  }

  /** The path being walked, spelled as IdScanner does. */
  private spell(): string {
    let p = '$';
    for (let i = 0; i < this.kFrom.length; i++) {
      if (this.kFrom[i] < 0) p += '[*]';
      else {
        const k = text(this.b, this.kFrom[i], this.kTo[i]);
        p += IDENT.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
      }
    }
    return p;
  }

  /** Walks (and, searching, scans) the item at p under trie node n (null: nothing to rewrite below); returns its end. */
  private walk(p: number, n: Node | null): number {
    const b = this.b;
    if (n === null && this.found === null) return skip(b, p);
    readHead(b, p);
    const major = head.major;
    switch (major) {
      case 3: {
        const from = head.at;
        const to = from + head.arg;
        if (this.found && this.search!.has(b, from, to) && !isPseudonym(b, from, to)) this.found(this.spell());
        return to;
      }
      case 0:
      case 1:
      case 7: {
        const at = head.at;
        if (major === 7 && head.info !== 20 && head.info !== 21 && head.info !== 22 && head.info !== 27) throw new NotPlain('a simple value DAG-CBOR does not have');
        if (this.found && this.search!.numeric.size) {
          const v = numberAt(b, p);
          if (v !== undefined && this.search!.numeric.has(String(v))) this.found(this.spell());
        }
        return at;
      }
      case 4:
        return this.array(head.at, head.arg, n);
      case 5:
        return this.map(p, head.at, head.arg, n);
      default:
        throw new NotPlain('bytes or a tag'); // IdScanner walks a Uint8Array's indices; not reproduced here
    }
  }

  private array(at: number, count: number, n: Node | null): number {
    const b = this.b;
    let q = at;
    this.kFrom.push(-1);
    this.kTo.push(-1);
    for (let k = 0; k < count; k++) {
      const child = n === null ? null : (n.each ?? n.keys?.get(String(k)) ?? null);
      if (child?.act === 'drop') {
        // rewritePaths keeps the other items' positions: null.
        const end = skip(b, q);
        this.flush(q);
        this.out.byte(0xf6);
        this.copied = q = end;
      } else if (child?.act === 'hmac') q = this.hmac(q);
      else q = this.walk(q, child);
    }
    this.kFrom.pop();
    this.kTo.pop();
    return q;
  }

  private map(p: number, at: number, count: number, n: Node | null): number {
    const b = this.b;
    if (n?.drops) {
      // The keys to drop decide the map's new head, which goes out before its entries.
      let dropped = 0;
      let q = at;
      for (let k = 0; k < count; k++) {
        readHead(b, q);
        const kTo = head.at + head.arg;
        if ((n.each ?? named(n, b, head.at, kTo))?.act === 'drop') dropped++;
        q = skip(b, kTo);
      }
      if (dropped) {
        this.flush(p);
        this.out.head(5, count - dropped);
        this.copied = at;
      }
    }
    let q = at;
    for (let k = 0; k < count; k++) {
      readHead(b, q);
      if (head.major !== 3) throw new NotPlain('a map key that is not text');
      const kFrom = head.at;
      const kTo = kFrom + head.arg;
      const child = n === null ? null : (n.each ?? (n.keys ? named(n, b, kFrom, kTo) : null));
      if (child?.act === 'drop') {
        const end = skip(b, kTo);
        this.flush(q);
        this.copied = q = end;
        continue;
      }
      this.kFrom.push(kFrom);
      this.kTo.push(kTo);
      if (this.found && this.search!.has(b, kFrom, kTo)) this.found(`${this.spell()} (the key)`);
      q = child?.act === 'hmac' ? this.hmac(kTo) : this.walk(kTo, child);
      this.kFrom.pop();
      this.kTo.pop();
    }
    return q;
  }

  /** Replaces the value at p by its pseudonym (see hmacValue); the encoded result is cached by the value's bytes. */
  private hmac(p: number): number {
    const b = this.b;
    const out = this.out;
    readHead(b, p);
    if (head.major === 7 && head.info === 22) return head.at; // null stays null
    if (head.major === 3 || head.major === 0 || head.major === 1) {
      const end = head.major === 3 ? head.at + head.arg : head.at;
      const h = hashBytes(b, p, end);
      const list = this.encoded.get(h);
      this.flush(p);
      this.copied = end;
      if (list) {
        for (const e of list) {
          if (sameBytes(e.value, b, p, end)) {
            out.bytes(e.out, 0, e.out.length);
            return end;
          }
        }
      }
      const at = out.length;
      this.hmacValue(p, out);
      if (this.encodedSize < 1_000_000) {
        this.encodedSize++;
        // Copies (Uint8Array.slice, not Buffer's view): the output may be rewound and written over.
        const entry = { value: copyOf(b, p, end), out: copyOf(out.buf, at, out.length) };
        if (list) list.push(entry);
        else this.encoded.set(h, [entry]);
      }
      return end;
    }
    this.flush(p);
    const end = this.hmacValue(p, out);
    this.copied = end;
    return end;
  }

  private hmacValue(p: number, out: Out): number {
    const b = this.b;
    readHead(b, p);
    if (head.major === 7 && head.info === 22) {
      out.byte(0xf6); // null stays null
      return head.at;
    }
    let id: string;
    let end: number;
    if (head.major === 3) {
      end = head.at + head.arg;
      id = text(b, head.at, end);
    } else if (head.major === 0 || head.major === 1 || (head.major === 7 && head.info === 27)) {
      end = head.at;
      id = String(numberAt(b, p));
    } else {
      end = skip(b, p);
      id = JSON.stringify(dagCbor.decode(b.subarray(p, end)));
    }
    // The pseudonym is 64 hex digits: IdScanner skips it.
    out.ascii(this.pseud(id));
    return end;
  }
}

/** The value at a simple path ($.auth.user_id) in the DAG-CBOR map at b[p...], as learnerReader reads it. */
export function readLearner(b: Uint8Array, p: number, segs: ReadonlyArray<string>): string | null {
  for (const key of segs) {
    readHead(b, p);
    if (head.major === 5) {
      let q = head.at;
      let hit = -1;
      for (let k = head.arg; k > 0; k--) {
        readHead(b, q);
        if ((head.major as number) !== 3) throw new NotPlain('a map key that is not text');
        const kTo = head.at + head.arg;
        if (hit < 0 && text(b, head.at, kTo) === key) hit = kTo;
        q = skip(b, kTo);
        if (hit >= 0) break;
      }
      if (hit < 0) return null;
      p = hit;
    } else if (head.major === 4) {
      if (!/^\d+$/.test(key) || Number(key) >= head.arg) return null;
      let q = head.at;
      for (let k = Number(key); k > 0; k--) q = skip(b, q);
      p = q;
    } else return null;
  }
  readHead(b, p);
  if (head.major === 3) return text(b, head.at, head.at + head.arg);
  const v = numberAt(b, p);
  return v === undefined ? null : String(v);
}
