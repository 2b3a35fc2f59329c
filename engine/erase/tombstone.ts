// An erased input-log entry. Logs number events densely (a batch is an offset range, a restart resumes at an
// offset), so an erased event keeps its offset and loses everything else: stream `loflow:erased`, event `{}`,
// arrival time kept (it says nothing about anyone). The consumer and the archive re-feed skip such entries;
// the Redis Stream log rebuilds its stream with tombstone entries at the same ids (tombstone.lua).
import type { LoggedEvent } from '../types.js';

export const ERASED_STREAM = 'loflow:erased';

export function tombstone(e: { offset: number; at: number }): LoggedEvent {
  return { offset: e.offset, stream: ERASED_STREAM, event: {}, at: e.at };
}

export const isErased = (e: { stream: string }) => e.stream === ERASED_STREAM;

/** The entries of a batch that are not erased (the same array when none is: the common case, no copy). */
export function liveEntries(entries: LoggedEvent[]): LoggedEvent[] {
  for (let i = 0; i < entries.length; i++) if (isErased(entries[i])) return entries.filter((e) => !isErased(e));
  return entries;
}
