// The receipt of an erasure: a content-addressed record of what was erased, where, by whom and why. The
// learner appears only as a pseudonym (HMAC under the audit log's key, as in audit records), so the receipt
// can be kept, shown and archived without re-identifying anyone. Its CID (DAG-CBOR, sha2-256, CIDv1, as
// archive blocks) names it: the audit log records the CID, and anyone holding the record can check it.
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import type { ArchiveEraseRequest } from '../types.js';
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

/** What the archive's own erasure record says (it computes its own pseudonym): who, why, when. */
export function archiveRecord(r: Pick<ErasureRecord, 'by' | 'reason' | 'at'>): ArchiveEraseRequest['record'] {
  return { by: r.by, reason: r.reason, at: Date.parse(r.at), req: null };
}

export function archiveStatus(a: ArchiveOutcome): string {
  if (a.status === 'failed') return `not erased: ${a.error}`;
  if (a.status === 'none') return 'no archive';
  if (a.status === 'would-erase') return "the learner's keys would be destroyed (an encrypted archive; a plaintext one refuses)";
  const d = a.status === 'erased' ? a.detail : undefined;
  return `keys destroyed${d ? ` (erasure record ${d.record}, archive pseudonym ${d.pseudonym})` : ''}`;
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
