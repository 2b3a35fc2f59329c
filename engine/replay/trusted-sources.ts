// The pipeline as `loflow replay --threads N` hands it to the engine: each source's checks can be switched off
// for an ingest call whose events a parse worker has already checked with the same compiled checks (so the
// main thread does not run them twice). Off only while `trusted` is set; any other call checks as usual.
import type { CompiledPipeline, CompiledSource, LoEvent } from '../types.js';

export interface TrustSwitch {
  pipeline: CompiledPipeline;
  /** Whether the next ingest calls' events were checked already. */
  trusted: boolean;
}

export function trustSwitch(pipeline: CompiledPipeline): TrustSwitch {
  const sw: TrustSwitch = { pipeline, trusted: false };
  const sources = new Map<string, CompiledSource>();
  for (const [name, s] of pipeline.sources) {
    const { validate, checkTime } = s;
    sources.set(name, {
      ...s,
      validate: (e: unknown) => (sw.trusted ? null : validate(e)),
      checkTime: checkTime && ((e: LoEvent, latest: number) => (sw.trusted ? null : checkTime(e, latest))),
    });
  }
  sw.pipeline = { ...pipeline, sources };
  return sw;
}
