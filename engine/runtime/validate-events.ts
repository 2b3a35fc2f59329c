// Ingest validation without an engine: a request's events against the stream's source schema, event-time
// and size limits, and the unknown-member warning. The Ingestor (one process) and an ingest node
// (`serve --role ingest`, engine/server/roles/ingest-node.ts) both use it, so a refusal reads the same on both.
import { cutDeep } from '../event-limits.js';
import type { CompiledKey, CompiledPipeline, DeadLetter, LoEvent } from '../types.js';
import type { IngestResult } from './types.js';

export type Accepted = { offset?: number; stream: string; event: LoEvent; at: number; producer?: string; seq?: number };

export interface Validated {
  accepted: Accepted[];
  rejected: IngestResult['rejected'];
  warnings: IngestResult['warnings'];
  letters: DeadLetter[];
}

/** The stream's source, or the error every ingest path throws for it. */
export function sourceOf(pipeline: CompiledPipeline, stream: string) {
  const source = pipeline.sources.get(stream);
  if (source) return source;
  if (pipeline.streams.has(stream)) throw new Error(`'${stream}' is a derived stream: only sources take events`);
  throw new Error(`unknown source '${stream}' (sources: ${[...pipeline.sources.keys()].join(', ')})`);
}

export class EventValidator {
  private lookups?: { pipeline: CompiledPipeline; list: Array<{ key: CompiledKey; by: CompiledKey }> };

  /** Members seen in events that no roster group knows (stats().unknownMembers, aggregations). */
  constructor(readonly unknown: Set<string>) {}

  /**
   * Split events into accepted ones (in order, each with its producer sequence: a producer's i-th event has
   * seq + i, so a re-sent batch maps to the same numbers) and rejected ones, each with its dead letter.
   */
  validate(pipeline: CompiledPipeline, stream: string, events: unknown[], at: number, producer?: { id: string; seq: number }): Validated {
    const source = sourceOf(pipeline, stream);
    // Sized for all events and cut to the accepted ones after the loop: no regrowth per 4,096-event batch.
    const accepted: Accepted[] = new Array(events.length);
    let n = 0;
    const rejected: IngestResult['rejected'] = [];
    const warnings: IngestResult['warnings'] = [];
    const letters: DeadLetter[] = [];
    // Event times may run ahead of arrival by the source's skew. Against the later of the given arrival and
    // now: a replay passes archived (past) arrivals, and what was accepted live must be accepted again.
    const latest = Math.max(at, Date.now());
    const lookups = this.lookupsOf(pipeline);
    for (let i = 0; i < events.length; i++) {
      const event = events[i];
      const reason = source.validate(event) ?? source.checkTime?.(event as LoEvent, latest) ?? null;
      if (reason !== null) {
        rejected.push({ index: i, reason });
        // A refused event may be too deep for the dead-letter store's JSON.stringify: kept cut at a safe depth.
        letters.push({ stream, event: cutDeep(event), reason, at, stage: 'ingest' });
        continue;
      }
      const unknownMember = this.unknownMember(event as LoEvent, lookups);
      if (unknownMember) warnings.push({ index: i, reason: unknownMember });
      // Without a producer, the entry is shaped as a LoggedEvent: the memory log keeps it as one (no copy).
      accepted[n++] = producer ? { stream, event: event as LoEvent, at, producer: producer.id, seq: producer.seq + i } : { offset: -1, stream, event: event as LoEvent, at };
    }
    accepted.length = n;
    return { accepted, rejected, warnings, letters };
  }

  /** A reason when the event's member (student) is in no roster group of a lookup key. */
  private unknownMember(event: LoEvent, lookups: Array<{ key: CompiledKey; by: CompiledKey }>): string | undefined {
    for (const { key, by } of lookups) {
      const member = by.extract(event);
      if (member !== undefined && key.lookup!.roster.groupOf(member) === undefined) {
        this.unknown.add(member);
        return `unknown ${key.lookup!.by} '${member}': not in roster '${key.lookup!.roster.name}'; the event is kept and processed but shown on no '${key.name}' dashboard`;
      }
    }
    return undefined;
  }

  /** The pipeline's lookup keys, each with the key it looks up by: found once per pipeline, not per event. */
  lookupsOf(pipeline: CompiledPipeline): Array<{ key: CompiledKey; by: CompiledKey }> {
    if (this.lookups?.pipeline !== pipeline) {
      const list: Array<{ key: CompiledKey; by: CompiledKey }> = [];
      for (const key of pipeline.keys.values()) {
        const by = key.lookup && pipeline.keys.get(key.lookup.by);
        if (by) list.push({ key, by });
      }
      this.lookups = { pipeline, list };
    }
    return this.lookups.list;
  }

  /** A live swap: rosters may have changed, so a member a roster now knows is no longer counted as unknown. */
  reconfigure(next: CompiledPipeline): void {
    const lookups = this.lookupsOf(next);
    for (const m of [...this.unknown]) if (lookups.every(({ key }) => key.lookup!.roster.groupOf(m) !== undefined)) this.unknown.delete(m);
  }
}
