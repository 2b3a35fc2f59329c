// Encrypted chunks (docs/scale-out.md §10.2): AES-256-GCM (node:crypto) under a per-learner-per-month data
// key, with a synthetic IV so the same chunk encrypts to the same bytes (the same CID after a crash re-feed),
// and the chunk's place in its chain (stream, pseudonym, prev, count, month, kid) bound as AAD: a ciphertext
// moved to another chain or position does not decrypt.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import * as dagCbor from '@ipld/dag-cbor';
import type { CID } from './blocks.js';
import { normalize, isNormal } from './blocks.js';
import type { ArchivedEntry, ChunkBlock } from './format.js';

export interface ChunkHeader {
  stream: string;
  learner: string | null;
  prev: CID | null;
  count: number;
  month: string;
  kid: string;
}

export interface ChunkPlain {
  /** The plain learner id (inside the ciphertext only). */
  learner: string | null;
  events: ArchivedEntry[];
}

const aadOf = (h: ChunkHeader) => dagCbor.encode({ stream: h.stream, learner: h.learner, prev: h.prev, count: h.count, month: h.month, kid: h.kid });

// One HKDF per data key, not per chunk.
const ivKeys = new WeakMap<Uint8Array, Buffer>();
function ivKey(dek: Uint8Array): Buffer {
  let k = ivKeys.get(dek);
  if (!k) ivKeys.set(dek, (k = Buffer.from(hkdfSync('sha256', dek, new Uint8Array(0), 'loflow/iv', 32))));
  return k;
}

export function encryptChunk(dek: Uint8Array, h: ChunkHeader, plain: ChunkPlain): ChunkBlock {
  return encryptPlaintext(dek, h, dagCbor.encode(isNormal(plain) ? plain : normalize(plain)));
}

/** The chunk of a plaintext already encoded (the DAG-CBOR bytes of a ChunkPlain: archive/chunk-bytes.ts). */
export function encryptPlaintext(dek: Uint8Array, h: ChunkHeader, pt: Uint8Array): ChunkBlock {
  const aad = aadOf(h);
  const iv = createHmac('sha256', ivKey(dek)).update(aad).update(pt).digest().subarray(0, 12);
  const c = createCipheriv('aes-256-gcm', dek, iv);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
  return {
    type: 'loflow/chunk',
    stream: h.stream,
    learner: h.learner,
    prev: h.prev,
    count: h.count,
    month: h.month,
    enc: { alg: 'A256GCM', kid: h.kid, iv: new Uint8Array(iv), ct: new Uint8Array(ct.buffer, ct.byteOffset, ct.length) },
  };
}

/** The chunk's plaintext; throws a clear error when the ciphertext, the IV or the bound header was changed. */
export function decryptChunk(dek: Uint8Array, chunk: ChunkBlock, cid?: CID): ChunkPlain {
  const enc = chunk.enc!;
  if (enc.alg !== 'A256GCM') throw new Error(`chunk ${cid?.toString() ?? ''}: unknown encryption ${String(enc.alg)}`);
  const aad = aadOf({ stream: chunk.stream, learner: chunk.learner ?? null, prev: chunk.prev, count: chunk.count, month: chunk.month!, kid: enc.kid });
  const ct = Buffer.from(enc.ct.buffer, enc.ct.byteOffset, enc.ct.length);
  if (ct.length < 16 || enc.iv.length !== 12) throw new Error(`chunk ${cid?.toString() ?? ''}: truncated ciphertext`);
  const d = createDecipheriv('aes-256-gcm', dek, enc.iv);
  d.setAAD(aad);
  d.setAuthTag(ct.subarray(ct.length - 16));
  let pt: Buffer;
  try {
    pt = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
  } catch {
    throw new Error(`chunk ${cid?.toString() ?? ''} (key ${enc.kid}) does not decrypt: its ciphertext or its header (stream, learner, prev, count, month) was altered, or the data key is not the one it was written with`);
  }
  const plain = dagCbor.decode(pt) as ChunkPlain;
  if (!plain || !Array.isArray(plain.events) || plain.events.length !== chunk.count) throw new Error(`chunk ${cid?.toString() ?? ''}: decrypted payload is not ${chunk.count} events`);
  return plain;
}
