// The receipt of an erasure: a content-addressed record of what was erased, where, by whom and why. The
// learner appears only as a pseudonym (HMAC under the audit log's key, as in audit records), so the receipt
// can be kept, shown and archived without re-identifying anyone. Its CID (DAG-CBOR, sha2-256, CIDv1, as
// archive blocks) names it: the audit log records the CID, and anyone holding the record can check it.
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import type { Json } from '../types.js';
import type { ArchiveOutcome, PlaceCounts } from './erase-parts.js';

export interface ErasureRecord {
  type: 'loflow/erasure';
  pipeline: string;
  /** The learner's pseudonym, never the id. */
  learner: string;
  by: string;
  reason: string;
  /** ISO time of the erasure. */
  at: string;
  counts: PlaceCounts;
  archive: string;
  /** Places that could not be erased (their error), and states still naming the learner. */
  incomplete: string[];
}

/** The part given to the archive before the counts are known: who, why, when, which pseudonym. */
export function archiveRecord(r: Pick<ErasureRecord, 'pipeline' | 'learner' | 'by' | 'reason' | 'at'>): Record<string, Json> {
  return { type: 'loflow/erasure', pipeline: r.pipeline, learner: r.learner, by: r.by, reason: r.reason, at: r.at };
}

export function archiveStatus(a: ArchiveOutcome): string {
  if (a.status === 'failed') return `not erased: ${a.error}`;
  if (a.status === 'none') return 'no archive';
  return a.status === 'would-erase' ? 'keys would be destroyed' : `keys destroyed${a.detail === null || a.detail === undefined ? '' : ` (${JSON.stringify(a.detail)})`}`;
}

/** The record's CID: DAG-CBOR (map keys sorted, so one record has one encoding), sha2-256, CIDv1. */
export async function receiptCid(record: ErasureRecord): Promise<string> {
  const bytes = dagCbor.encode(record);
  return CID.create(1, dagCbor.code, await sha256.digest(bytes)).toString();
}

/** What the CLI prints: the record and its CID, or the dry run's list. */
export function formatCounts(counts: PlaceCounts): string[] {
  return Object.entries(counts).map(([place, n]) => `  ${place}: ${n}`);
}
