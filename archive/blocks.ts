// Blocks and CIDs: DAG-CBOR encoded, sha2-256, CIDv1 (multiformats). The block schemas are in
// schemas/archive-*.schema.json and the README.
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';

export interface Block {
  cid: CID;
  bytes: Uint8Array;
}

/** DAG-CBOR has no `undefined`: drop undefined fields (as JSON does) so any JSON-like value encodes. */
export function normalize(v: unknown): unknown {
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : normalize(x)));
  if (v instanceof CID || v instanceof Uint8Array) return v;
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = normalize(x);
    return out;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return null; // JSON semantics for Infinity/NaN
  return v;
}

/**
 * True when normalize(v) would encode to the same bytes as v: only plain objects and arrays, with no
 * undefined and no Infinity/NaN, down to strings, finite numbers, booleans, null, CIDs and bytes. Events
 * parsed from JSON always are; checking walks the value without copying it, which costs a fraction of
 * normalize's copy. Anything else (class instances, Dates, Maps...) takes normalize as before.
 */
export function isNormal(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object': {
      if (v === null) return true;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!isNormal(v[i])) return false; // a hole reads as undefined
        return true;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) {
        // for-in also visits inherited enumerable keys: checking those too can only send v to normalize. An
        // own "__proto__" key (JSON.parse makes one) is lost in normalize's copy, so it must go there.
        for (const k in v) if (k === '__proto__' || !isNormal((v as Record<string, unknown>)[k])) return false;
        return true;
      }
      return v instanceof CID || v instanceof Uint8Array;
    }
    default:
      return false; // undefined, bigint, symbol, function: normalize decides as before
  }
}

/** DAG-CBOR bytes of normalize(value), without normalize's copy when the value is already normal. */
export function encodeNormalized(value: unknown): Uint8Array {
  if (isNormal(value)) {
    try {
      return dagCbor.encode(value);
    } catch {
      // Whatever the encoder refuses as it is (an object posing as another type) goes through normalize.
    }
  }
  return dagCbor.encode(normalize(value));
}

export async function encodeBlock(value: unknown): Promise<Block> {
  return blockOf(encodeNormalized(value));
}

/** The block of DAG-CBOR bytes already encoded (archive/chunk-bytes.ts). */
export async function blockOf(bytes: Uint8Array): Promise<Block> {
  const cid = CID.create(1, dagCbor.code, await sha256.digest(bytes));
  return { cid, bytes };
}

export function decodeBlock<T = any>(bytes: Uint8Array): T {
  return dagCbor.decode(bytes) as T;
}

/** True when the bytes hash to the CID (sha2-256 only, which is all loflow writes). */
export async function verifyBlock(cid: CID, bytes: Uint8Array): Promise<boolean> {
  if (cid.multihash.code !== sha256.code) return false;
  const digest = await sha256.digest(bytes);
  const a = digest.digest;
  const b = cid.multihash.digest;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Every CID linked from a decoded block. */
export function linksOf(value: unknown, out: CID[] = []): CID[] {
  const cid = CID.asCID(value);
  if (cid) out.push(cid);
  else if (Array.isArray(value)) for (const v of value) linksOf(v, out);
  else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) for (const v of Object.values(value)) linksOf(v, out);
  return out;
}

export { CID };
