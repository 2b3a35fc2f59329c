// What every part of the runtime shares. One object, built by the Engine, so a live swap replaces the
// pipeline for all parts at once (between batches) and every part emits to the Engine's listeners.
import type { EventEmitter } from 'node:events';
import type { ArchiveSink, CompiledPipeline, DeadLetterStore, InputLog, StateStore } from '../types.js';

export interface Counters {
  ingested: number;
  rejected: number;
  processed: number;
  failed: number;
  emitted: number;
  batches: number;
  lastBatchMs: number;
  retries: number;
  unarchived: number;
  /** Commit answers: ok, done (a lost reply found applied), fenced / conflict (refused: ownership lost). */
  commits: { ok: number; done: number; fenced: number; conflict: number };
}

export interface RuntimeContext {
  /** The pipeline in effect: replaced only by a live swap, between batches. */
  pipeline: CompiledPipeline;
  readonly store: StateStore;
  /** The name the store keeps this partition's records under: the pipeline's name when P = 1 (today's keys),
   * `<pipeline>:p<N>` when P > 1 (the key layout's hash tag then becomes the partition's, docs/scale-out.md §2). */
  readonly storeName: string;
  /** The partition's number when the pipeline has several (batch events carry it); absent when P = 1. */
  readonly partition?: number;
  /** This partition's input log. */
  readonly log: InputLog;
  readonly deadLetters: DeadLetterStore;
  readonly archive?: ArchiveSink;
  /** The Engine itself: parts emit its events ('batch', 'retry', 'archive-error', ...). */
  readonly events: EventEmitter;
  readonly counters: Counters;
}

export function newCounters(): Counters {
  return { ingested: 0, rejected: 0, processed: 0, failed: 0, emitted: 0, batches: 0, lastBatchMs: 0, retries: 0, unarchived: 0, commits: { ok: 0, done: 0, fenced: 0, conflict: 0 } };
}
