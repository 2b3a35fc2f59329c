// The content ID of a replay's result (states and aggregations), canonically encoded as DAG-CBOR: the same
// pipeline on the same archive always gives the same CID.
import { encodeBlock } from './blocks.js';

export async function resultCid(results: unknown): Promise<string> {
  // JSON round trip: the same value whatever object identities or key orders the engine produced
  // (DAG-CBOR then sorts map keys canonically).
  return (await encodeBlock(JSON.parse(JSON.stringify(results)))).cid.toString();
}
