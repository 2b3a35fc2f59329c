// Reading DAG-CBOR item by item without decoding it to objects: item heads, skipping, small values, and an
// output buffer for re-assembling bytes. A study export rewrites a few fields of every archived event; doing
// that on the bytes (copying everything else as it is) avoids decoding and re-encoding whole events, which
// cost ~20x more. DAG-CBOR has definite lengths only and one encoding per value, so bytes copied verbatim
// are exactly what re-encoding the decoded value would give.

/** A construct this reader does not rewrite (indefinite lengths, tags, 64-bit lengths): the caller falls back. */
export class NotPlain extends Error {}

/** The last head read: major type, argument (a length, count or small integer) and where its content starts. */
export const head = { major: 0, info: 0, arg: 0, at: 0 };

/** head.major, read through a call: a comparison does not narrow it for the next readHead (TypeScript would). */
export const major = (): number => head.major;

/** Reads the head at p into `head`. Arguments past 2^53 are refused (no DAG-CBOR length is that large). */
export function readHead(b: Uint8Array, p: number): void {
  const ib = b[p];
  if (ib === undefined) throw new NotPlain('truncated CBOR');
  const info = ib & 31;
  head.major = ib >> 5;
  head.info = info;
  if (info < 24) {
    head.arg = info;
    head.at = p + 1;
  } else if (info === 24) {
    head.arg = b[p + 1];
    head.at = p + 2;
  } else if (info === 25) {
    head.arg = (b[p + 1] << 8) | b[p + 2];
    head.at = p + 3;
  } else if (info === 26) {
    head.arg = b[p + 1] * 0x1000000 + ((b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4]);
    head.at = p + 5;
  } else if (info === 27) {
    const hi = b[p + 1] * 0x1000000 + ((b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4]);
    if (hi >= 0x200000 && head.major !== 7) throw new NotPlain('an integer past 2^53');
    head.arg = hi * 0x100000000 + (b[p + 5] * 0x1000000 + ((b[p + 6] << 16) | (b[p + 7] << 8) | b[p + 8]));
    head.at = p + 9;
  } else throw new NotPlain('an indefinite length');
  if (head.at > b.length) throw new NotPlain('truncated CBOR');
}

/** Where the item at p ends. */
export function skip(b: Uint8Array, p: number): number {
  readHead(b, p);
  switch (head.major) {
    case 0:
    case 1:
    case 7:
      return head.at;
    case 2:
    case 3:
      return head.at + head.arg;
    case 4: {
      let q = head.at;
      for (let n = head.arg; n > 0; n--) q = skip(b, q);
      return q;
    }
    case 5: {
      let q = head.at;
      for (let n = head.arg * 2; n > 0; n--) q = skip(b, q);
      return q;
    }
    default:
      throw new NotPlain('a tag'); // 6: CIDs (tag 42); archived events have none
  }
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: false });

/** The text of a text string whose content is b[from, to). */
export function text(b: Uint8Array, from: number, to: number): string {
  // ASCII (the usual key or id) decodes faster byte by byte than through TextDecoder for short strings.
  if (to - from <= 16) {
    let s = '';
    for (let i = from; i < to; i++) {
      const c = b[i];
      if (c >= 0x80) return utf8.decode(b.subarray(from, to));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8.decode(b.subarray(from, to));
}

/** The bytes b[from, to) as a latin1 string: a Set key for comparing byte sequences. */
export function bytesKey(b: Uint8Array, from: number, to: number): string {
  if (to - from <= 16) {
    let s = '';
    for (let i = from; i < to; i++) s += String.fromCharCode(b[i]);
    return s;
  }
  return latin1.decode(b.subarray(from, to));
}

const f64 = new DataView(new ArrayBuffer(8));

/** The number at p (major 0, 1 or a float), or undefined when the item is no number. */
export function numberAt(b: Uint8Array, p: number): number | undefined {
  readHead(b, p);
  if (head.major === 0) return head.arg;
  if (head.major === 1) return -1 - head.arg;
  if (head.major === 7 && head.info === 27) {
    for (let i = 0; i < 8; i++) f64.setUint8(i, b[p + 1 + i]);
    return f64.getFloat64(0);
  }
  if (head.major === 7 && (head.info === 25 || head.info === 26)) throw new NotPlain('a short float'); // not DAG-CBOR
  return undefined;
}

/** A growable byte buffer (`size`: its first capacity; 0 allocates on the first write). */
export class Out {
  buf: Uint8Array;
  length = 0;

  constructor(size = 1 << 16) {
    this.buf = new Uint8Array(size);
  }

  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = Math.max(this.buf.length * 2, 64);
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  bytes(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.reserve(n);
    if (n < 32) {
      const buf = this.buf;
      let at = this.length;
      for (let i = from; i < to; i++) buf[at++] = src[i];
    } else this.buf.set(from === 0 && to === src.length ? src : src.subarray(from, to), this.length);
    this.length += n;
  }

  byte(x: number): void {
    this.reserve(1);
    this.buf[this.length++] = x;
  }

  /** A head with an argument below 2^53 (no 64-bit float: see number). */
  head(major: number, arg: number): void {
    this.reserve(9);
    const buf = this.buf;
    const m = major << 5;
    let at = this.length;
    if (arg < 24) buf[at++] = m | arg;
    else if (arg < 0x100) {
      buf[at++] = m | 24;
      buf[at++] = arg;
    } else if (arg < 0x10000) {
      buf[at++] = m | 25;
      buf[at++] = arg >> 8;
      buf[at++] = arg & 0xff;
    } else if (arg < 0x100000000) {
      buf[at++] = m | 26;
      buf[at++] = arg >>> 24;
      buf[at++] = (arg >> 16) & 0xff;
      buf[at++] = (arg >> 8) & 0xff;
      buf[at++] = arg & 0xff;
    } else {
      const hi = Math.floor(arg / 0x100000000);
      const lo = arg >>> 0;
      buf[at++] = m | 27;
      buf[at++] = hi >>> 24;
      buf[at++] = (hi >> 16) & 0xff;
      buf[at++] = (hi >> 8) & 0xff;
      buf[at++] = hi & 0xff;
      buf[at++] = lo >>> 24;
      buf[at++] = (lo >> 16) & 0xff;
      buf[at++] = (lo >> 8) & 0xff;
      buf[at++] = lo & 0xff;
    }
    this.length = at;
  }

  /** A number as @ipld/dag-cbor encodes it: a safe integer as an integer, anything else (1e20 too) as a 64-bit float. */
  number(x: number): void {
    if (Number.isSafeInteger(x)) {
      if (x >= 0) this.head(0, x);
      else this.head(1, -1 - x);
      return;
    }
    if (!Number.isFinite(x)) throw new NotPlain('a non-finite number');
    this.reserve(9);
    f64.setFloat64(0, x);
    this.buf[this.length++] = 0xfb;
    for (let i = 0; i < 8; i++) this.buf[this.length++] = f64.getUint8(i);
  }

  /** An ASCII text string (a pseudonym). */
  ascii(s: string): void {
    this.head(3, s.length);
    this.reserve(s.length);
    const buf = this.buf;
    let at = this.length;
    for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
    this.length = at;
  }
}

/**
 * Many small byte strings written one after another into shared buffers, each handed out as a view: one
 * allocation per megabyte instead of one per string. A view stays valid when the buffer grows or is
 * replaced (the old buffer is never written again).
 */
export class Slab extends Out {
  private from = 0;

  /** Starts the next string. */
  begin(): void {
    if (this.length >= 1 << 20) {
      this.buf = Buffer.allocUnsafe(1 << 21); // written before it is read: no need to zero it
      this.length = 0;
    }
    this.from = this.length;
  }

  /** The string written since begin(). */
  end(): Uint8Array {
    return this.buf.subarray(this.from, this.length);
  }

  /** Forgets what was written since begin(). */
  drop(): void {
    this.length = this.from;
  }
}
