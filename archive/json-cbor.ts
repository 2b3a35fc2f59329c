// DAG-CBOR of a plain JSON value (what JSON.parse makes), written straight into shared buffers: the same
// bytes as @ipld/dag-cbor's encode (checked against it in test/archive/json-cbor.test.ts, fuzzed), at a
// fraction of its cost. The archive writer's thread spent most of its time in the generic encoder, which
// builds and sorts tokens for every map: events are small maps, many of them (bench/hot-paths.ts).
import { Slab } from './cbor-bytes.js';

const out = new Slab();
const utf8 = new TextEncoder();
/** Deeper values (and cycles) go to the generic encoder, which refuses cycles with a clear error. */
const MAX_DEPTH = 256;

/**
 * The DAG-CBOR bytes of `value`, or undefined when it is not plain JSON (undefined anywhere, a non-finite
 * number, an array hole, a class instance, a CID or bytes, an own `__proto__` key, deeper than 256): the
 * caller encodes those the generic way. The bytes are a view into a shared buffer: never written again.
 */
export function encodeJson(value: unknown): Uint8Array | undefined {
  out.begin();
  if (write(value, 0)) return out.end();
  out.drop();
  return undefined;
}

function write(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
      text(v);
      return true;
    case 'number':
      if (!Number.isFinite(v)) return false;
      out.number(v); // a safe integer as an integer (-0 as 0), anything else as a 64-bit float: as dag-cbor
      return true;
    case 'boolean':
      out.byte(v ? 0xf5 : 0xf4);
      return true;
    case 'object': {
      if (v === null) {
        out.byte(0xf6);
        return true;
      }
      if (depth >= MAX_DEPTH) return false;
      if (Array.isArray(v)) {
        out.head(4, v.length);
        for (let i = 0; i < v.length; i++) {
          const x = v[i];
          if (x === undefined || !write(x, depth + 1)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      const o = v as Record<string, unknown>;
      const shape = shapeOf(Object.keys(o));
      if (!shape) return false;
      out.bytes(shape.head, 0, shape.head.length);
      const { sorted, encoded } = shape;
      for (let i = 0; i < sorted.length; i++) {
        const x = o[sorted[i]];
        if (x === undefined) return false; // normalize drops the field: the generic way decides
        const k = encoded[i];
        out.bytes(k, 0, k.length);
        if (!write(x, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** A text string: its UTF-8 bytes (an unpaired surrogate as U+FFFD, as dag-cbor writes it). */
const text = (s: string): void => textInto(out, s);

function textInto(out: Slab, s: string): void {
  if (s.length < 64 && isAscii(s)) {
    out.ascii(s);
    return;
  }
  const bytes = Buffer.byteLength(s, 'utf8');
  out.head(3, bytes);
  out.reserve(bytes);
  out.length += utf8.encodeInto(s, out.buf.subarray(out.length, out.length + bytes)).written;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** A map's keys in the order they came, in DAG-CBOR's order, and its head and keys as DAG-CBOR. */
interface Shape {
  keys: string[];
  sorted: string[];
  head: Uint8Array;
  encoded: Uint8Array[];
}

/**
 * Shapes seen, by first key: events of one kind come with the same keys in the same order (JSON.parse gives
 * the same key strings, so comparing them is cheap), and sorting and encoding keys was a third of the
 * encoder's time. Bounded: small shapes only, emptied past MAX_SHAPES.
 */
const shapes = new Map<string, Shape[]>();
let shapeCount = 0;
const MAX_SHAPES = 512;
const EMPTY: Shape = { keys: [], sorted: [], head: Uint8Array.of(0xa0), encoded: [] };
const keyOut = new Slab();

/** The shape of a map with these keys (in their own order); undefined for an own `__proto__` key. */
function shapeOf(keys: string[]): Shape | undefined {
  if (keys.length === 0) return EMPTY;
  const list = shapes.get(keys[0]);
  if (list) {
    next: for (const s of list) {
      if (s.keys.length !== keys.length) continue;
      for (let i = 1; i < keys.length; i++) if (s.keys[i] !== keys[i]) continue next;
      return s;
    }
  }
  const sorted = keys.slice();
  if (!sortKeys(sorted)) return undefined;
  keyOut.begin();
  keyOut.head(5, keys.length);
  const head = keyOut.end().slice();
  const encoded = sorted.map((k) => {
    keyOut.begin();
    textInto(keyOut, k);
    return keyOut.end().slice();
  });
  const shape = { keys, sorted, head, encoded };
  // Maps with many or long keys (a dictionary by id, hostile input) are not kept: the cache stays small.
  let chars = 0;
  for (const k of keys) chars += k.length;
  if (keys.length > 64 || chars > 1024) return shape;
  if (shapeCount >= MAX_SHAPES) {
    shapes.clear();
    shapeCount = 0;
  }
  const l = shapes.get(keys[0]);
  if (l) l.push(shape);
  else shapes.set(keys[0], [shape]);
  shapeCount++;
  return shape;
}

const lens: number[] = [];

/**
 * Sorts a map's keys in DAG-CBOR's order (shorter UTF-8 first, then bytewise), in place; false for an own
 * `__proto__` key (normalize loses it, so the generic way must decide). Maps are small: insertion sort.
 */
function sortKeys(keys: string[]): boolean {
  let ascii = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (k === '__proto__') return false;
    if (isAscii(k)) lens[i] = k.length;
    else {
      lens[i] = Buffer.byteLength(k, 'utf8');
      ascii = false;
    }
  }
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    const n = lens[i];
    let j = i - 1;
    while (j >= 0 && (lens[j] > n || (lens[j] === n && after(keys[j], k, ascii)))) {
      keys[j + 1] = keys[j];
      lens[j + 1] = lens[j];
      j--;
    }
    keys[j + 1] = k;
    lens[j + 1] = n;
  }
  return true;
}

/** a after b bytewise (same UTF-8 length): for ASCII the code units' order is the bytes'. */
const after = (a: string, b: string, ascii: boolean) => (ascii ? a > b : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) > 0);
