// The archive data keys retention destroys (docs/scale-out.md §10.1: one key per learner per month). The
// key store (archive/keys) is not in this branch yet: until it is, an archive is not encrypted and there is
// no key to destroy, so this returns undefined and the report says the archived events stay readable.
import type { CompiledPipeline, StateStore } from '../types.js';
import type { KeyExpiry } from './run.js';

export async function archiveKeyExpiry(_pipeline: CompiledPipeline, _store: StateStore, _archiveDir: string): Promise<KeyExpiry | undefined> {
  return undefined;
}
