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

export async function encodeBlock(value: unknown): Promise<Block> {
  const bytes = dagCbor.encode(normalize(value));
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
