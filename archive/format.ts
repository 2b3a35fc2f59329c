// The archive's block kinds (all DAG-CBOR, CIDv1 sha2-256). JSON Schemas of their DAG-JSON form are in
// schemas/archive-*.schema.json; the README's "Archive format" section explains how they link.
import type { LoEvent } from '../engine/types.js';
import type { CID } from './blocks.js';

/** The pipeline definition a commit was written under. */
export interface PipelineBlock {
  type: 'loflow/pipeline';
  name: string;
  /** The YAML as written. */
  text: string;
}

/** One archived event: input log offset, arrival ms, the event, and (format 2) its position in its stream. */
export interface ArchivedEntry {
  o: number;
  t: number;
  e: LoEvent;
  /** 0-based position in the stream (format 2): derived events share their origin's offset, this orders them. */
  i?: number;
}

/**
 * A run of events of one stream, linked to the previous chunk of the same chain. Format 1: one chain per
 * stream. Format 2: one chain per learner (`learner`) or for events without a learner id (`learner: null`).
 */
export interface ChunkBlock {
  type: 'loflow/chunk';
  stream: string;
  /** Format 2: the learner id; format 3 with crypto: the learner's pseudonym (never the id). */
  learner?: string | null;
  prev: CID | null;
  count: number;
  /** Plaintext chunks only. */
  events?: ArchivedEntry[];
  /** Encrypted chunks (format 3, crypto on): the arrival month of every event (a chunk never spans months). */
  month?: string;
  enc?: ChunkEnc;
}

/** An encrypted chunk's payload (docs/scale-out.md §10.2): DAG-CBOR {learner, events}, AES-256-GCM. */
export interface ChunkEnc {
  alg: 'A256GCM';
  /** The data key: `<pseudonym>:YYYY-MM` or `_other:YYYY-MM`. */
  kid: string;
  /** Synthetic IV: HMAC(HKDF(DEK, "loflow/iv"), aad ‖ plaintext)[0..12]. */
  iv: Uint8Array;
  /** Ciphertext with the 16-byte GCM tag at its end. */
  ct: Uint8Array;
}

/** Format 3 with crypto: how chunks are encrypted and learners named (no key material). */
export interface CommitCrypto {
  alg: 'A256GCM';
  pseudonym: 'hmac-sha256';
  /** The KeyProvider id (a fingerprint) that wrapped the data keys. */
  provider: string;
}

/** A learner's erasure (crypto-shredding), linked from the next commit. Never holds the plain id. */
export interface ErasureBlock {
  type: 'loflow/erasure';
  pseudonym: string;
  by: string;
  reason: string;
  req: string | null;
  /** ms */
  at: number;
  /** Events of the learner with an origin offset below this were dropped or shredded. */
  before: number;
  /** The data keys destroyed. */
  kids: string[];
  counts: { archivedEvents: number; pendingDropped: number; chains: number };
}

/** Format 2: a stream's per-learner chain heads, so one learner's events are reachable without the rest. */
export interface IndexBlock {
  type: 'loflow/index';
  stream: string;
  /** The JSON path the learner id was read from (e.g. $.auth.user_id); null when the pipeline names none. */
  key: string | null;
  count: number;
  learners: Record<string, { head: CID; count: number }>;
  /** The chain of events that carry no learner id. */
  other: { head: CID; count: number } | null;
  /** The format 1 chain (one chain for the whole stream) of events archived before the folder moved to format 2. */
  legacy: CID | null;
}

/** What an export kept of its source (format 2 exports with filters or pseudonyms). */
export interface ExportFilter {
  /** The source commit's CID, as text: not a link, so the export stays self-contained. */
  from: string;
  streams: string[] | null;
  since: number | null;
  until: number | null;
  /** Fields whose values were replaced by HMAC-SHA256(key, value) (the key is never stored). */
  pseudonymized: string[];
  dropped: string[];
  /** A research export (README "Consent and research exports"): only consented learners, how many. */
  research?: { learners: number };
}

/**
 * Format 3 with partitions (docs/scale-out.md §13): one partition's chains at one point, written by the
 * partition's writer alone; a commit links one per partition. Fields as a format 2 commit's, partition-local.
 */
export interface PartBlock {
  type: 'loflow/part';
  partition: number;
  /** This partition's previous part, or null. */
  prev: CID | null;
  /** stream -> index block. */
  heads: Record<string, CID>;
  counts: Record<string, number>;
  /** Highest partition-local offset per stream (raw: the partition's log offset; derived: its origin's). */
  through: Record<string, number>;
  /** This partition's erasure records since `prev` (none yet: erasure with P > 1 is not built). */
  erasures: CID[];
}

export interface Partitioning {
  count: number;
  by: string;
  hash: 'fnv1a32';
}

export interface CommitBlock {
  type: 'loflow/commit';
  /**
   * 2 for indexed commits, 3 for indexed commits with `crypto` or with `parts`; absent in format 1 (heads
   * link chunks directly).
   */
  format?: 2 | 3;
  name: string;
  pipeline: CID;
  prev: CID | null;
  time: number;
  /** Format 1: stream -> head chunk. Format 2: stream -> index block. Format 3 with `parts`: empty. */
  heads: Record<string, CID>;
  /** Events per stream (with `parts`: summed over the parts, for `archive log`). */
  counts: Record<string, number>;
  /** Highest offset archived per stream: a batch re-sent after a crash is recognised by it. With `parts`: empty (per part). */
  through: Record<string, number>;
  /** Format 3 partitioned: how events were split; `parts[n]` is partition n's newest part (null: none yet). */
  partitioning?: Partitioning;
  parts?: Array<CID | null>;
  filter?: ExportFilter;
  /** Format 3: encryption settings, or null for a plaintext format 3 commit. */
  crypto?: CommitCrypto | null;
  /** Format 3: erasure records since the previous commit. */
  erasures?: CID[];
}

/** Format 2 and 3 commits link per-stream indexes; format 1 links chunk chains. */
export const isIndexed = (c: { format?: number }) => (c.format ?? 1) >= 2;

/** One entry of the analysis log: what a replay or export read, produced, and with which engine. */
export interface AnalysisEntry {
  type: 'loflow/analysis';
  prev: CID | null;
  /** `replay` or `archive export`, with its arguments. */
  command: string;
  pipeline: CID;
  input: CID;
  output: CID;
  engine: string;
  time: number;
  /** An export's audit record hash (engine/audit): the access on record, pinned in the archive. */
  audit?: string;
  /**
   * A research export: the consent source it was made under (the file's raw CID) and the learners it
   * included, as audit pseudonyms (never ids), so a withdrawn student's exports can be found and recalled.
   */
  research?: { consent: CID; learners: string[] };
}
