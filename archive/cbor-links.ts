// The CIDs a DAG-CBOR block links to, found by stepping over its bytes instead of decoding it: export and
// verify only need the links, and decoding a chunk (a thousand events: strings, objects) cost most of their
// time. The scan takes only canonical DAG-CBOR as loflow's encoder writes it (minimal lengths, map keys in
// canonical order, no tags but 42, no undefined/NaN/Infinity/short floats); anything else returns null and
// the caller decodes the block as before, so odd or hostile blocks give exactly the old result or error.
import { CID } from 'multiformats/cid';
import { decodeBlock, linksOf } from './blocks.js';

class Fallback extends Error {}
const fallback = new Fallback();
const MAX_DEPTH = 512;

/** The links of a DAG-CBOR block in the order linksOf(decodeBlock(bytes)) lists them, or null (decode it). */
export function scanLinks(bytes: Uint8Array): CID[] | null {
  return scan(bytes, false);
}

// Strict DAG-CBOR writes a link only as tag 42 in its minimal head, the two bytes d8 2a (the decoder refuses
// a longer head and every other tag). Where those bytes occur nowhere after a position, no link can start
// there: the tail scan stops and leaves the rest of the block unread (Buffer.indexOf runs at memory speed).
const TAG42 = Buffer.from([0xd8, 0x2a]);
let tail = false;
let stopped = false;
let tagAt = -1;
let view: Buffer = Buffer.alloc(0);

/**
 * scanLinks, but stopping where no link can follow: the same links in the same order for every block
 * scanLinks takes, without reading the bytes after the last d8 2a (a block malformed only there is not
 * noticed: export and verify need the links, not a check of every event's encoding).
 */
export function scanLinksToTail(bytes: Uint8Array): CID[] | null {
  return scan(bytes, true);
}

function scan(bytes: Uint8Array, toTail: boolean): CID[] | null {
  const out: CID[] = [];
  tail = toTail;
  stopped = false;
  if (toTail) {
    view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    tagAt = view.indexOf(TAG42, 0);
  }
  try {
    const end = item(bytes, 0, out, 0);
    return stopped || end === bytes.length ? out : null;
  } catch (err) {
    if (err instanceof Fallback || err instanceof RangeError) return null;
    throw err;
  } finally {
    view = Buffer.alloc(0); // do not keep the block alive
  }
}

/** The argument of the head at `pos` (minimal encodings only); sets `next` to the first byte after it. */
let next = 0;
function arg(b: Uint8Array, pos: number): number {
  const info = b[pos] & 0x1f;
  if (info < 24) {
    next = pos + 1;
    return info;
  }
  if (info === 24) {
    if (pos + 2 > b.length || b[pos + 1] < 24) throw fallback;
    next = pos + 2;
    return b[pos + 1];
  }
  if (info === 25) {
    if (pos + 3 > b.length) throw fallback;
    const v = (b[pos + 1] << 8) | b[pos + 2];
    if (v < 256) throw fallback;
    next = pos + 3;
    return v;
  }
  if (info === 26) {
    if (pos + 5 > b.length) throw fallback;
    const v = b[pos + 1] * 0x1000000 + ((b[pos + 2] << 16) | (b[pos + 3] << 8) | b[pos + 4]);
    if (v < 65536) throw fallback;
    next = pos + 5;
    return v;
  }
  if (info === 27) {
    if (pos + 9 > b.length) throw fallback;
    const hi = b[pos + 1] * 0x1000000 + ((b[pos + 2] << 16) | (b[pos + 3] << 8) | b[pos + 4]);
    if (hi === 0) throw fallback; // fits in 4 bytes: not minimal
    next = pos + 9;
    return hi * 0x100000000; // only ever used as an int's value (ignored) or a length (too long: fallback)
  }
  throw fallback; // 28-30 reserved, 31 indefinite
}

/** A canonical array index key ("0", "17"): JS objects list those first, so a decode would reorder links. */
function isIndexKey(b: Uint8Array, start: number, len: number): boolean {
  if (len === 0 || len > 10 || b[start] < 0x30 || b[start] > 0x39 || (b[start] === 0x30 && len > 1)) return false;
  let v = 0;
  for (let i = start; i < start + len; i++) {
    if (b[i] < 0x30 || b[i] > 0x39) return false;
    v = v * 10 + (b[i] - 0x30);
  }
  return v < 0xffffffff;
}

/** DAG-CBOR key order: shorter first, then bytewise; strictly increasing also rules out repeated keys. */
function keyAfter(b: Uint8Array, ps: number, pl: number, s: number, l: number): boolean {
  if (pl !== l) return l > pl;
  for (let i = 0; i < l; i++) if (b[ps + i] !== b[s + i]) return b[s + i] > b[ps + i];
  return false;
}

function item(b: Uint8Array, pos: number, out: CID[], depth: number): number {
  if (tail) {
    if (tagAt >= 0 && tagAt < pos) tagAt = view.indexOf(TAG42, pos);
    if (tagAt < 0) {
      stopped = true;
      return pos;
    }
  }
  if (pos >= b.length || depth > MAX_DEPTH) throw fallback;
  const major = b[pos] >> 5;
  switch (major) {
    case 0:
    case 1:
      arg(b, pos);
      return next;
    case 2:
    case 3: {
      const len = arg(b, pos);
      const end = next + len;
      if (end > b.length) throw fallback;
      return end;
    }
    case 4: {
      const n = arg(b, pos);
      let p = next;
      for (let i = 0; i < n && !stopped; i++) p = item(b, p, out, depth + 1);
      return p;
    }
    case 5: {
      const n = arg(b, pos);
      let p = next;
      let prevStart = -1;
      let prevLen = 0;
      let indexKey = false;
      const linksBefore = out.length;
      for (let i = 0; i < n; i++) {
        if (p >= b.length || b[p] >> 5 !== 3) throw fallback; // keys are text strings
        const len = arg(b, p);
        const start = next;
        if (start + len > b.length) throw fallback;
        for (let k = start; k < start + len; k++) if (b[k] >= 0x80) throw fallback; // two byte forms, one string
        if (prevStart >= 0 && !keyAfter(b, prevStart, prevLen, start, len)) throw fallback;
        if (isIndexKey(b, start, len)) indexKey = true;
        prevStart = start;
        prevLen = len;
        p = item(b, start + len, out, depth + 1);
        if (stopped) break; // the entries left hold no link: their keys cannot reorder the links found
      }
      if (indexKey && out.length > linksBefore) throw fallback;
      return p;
    }
    case 6: {
      if (b[pos] !== 0xd8 || b[pos + 1] !== 42) throw fallback;
      const at = pos + 2;
      if (at >= b.length || b[at] >> 5 !== 2) throw fallback;
      const len = arg(b, at);
      const start = next;
      if (start + len > b.length || len < 1 || b[start] !== 0) throw fallback;
      try {
        out.push(CID.decode(b.slice(start + 1, start + len))); // a copy: the CID must not pin the block
      } catch {
        throw fallback;
      }
      return start + len;
    }
    default: {
      const v = b[pos];
      if (v === 0xf4 || v === 0xf5 || v === 0xf6) return pos + 1; // false, true, null
      if (v === 0xfb) {
        if (pos + 9 > b.length) throw fallback;
        const f = new DataView(b.buffer, b.byteOffset + pos + 1, 8).getFloat64(0);
        if (!Number.isFinite(f)) throw fallback;
        return pos + 9;
      }
      throw fallback;
    }
  }
}

/** Every CID a block links to: scanned, or decoded when the scan does not take the block. */
export function blockLinks(bytes: Uint8Array): CID[] {
  return scanLinks(bytes) ?? linksOf(decodeBlock(bytes));
}

/** blockLinks with the tail scan: what export and verify use (a block they cannot scan is decoded, as before). */
export function tailLinks(bytes: Uint8Array): CID[] {
  return scanLinksToTail(bytes) ?? linksOf(decodeBlock(bytes));
}
