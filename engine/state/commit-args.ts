// The arguments of commit.lua (see scripts.ts) for one batch's Commit: keys first (all in the batch's
// partition slot), then the values in the order the script reads them.
import type { Commit } from '../types.js';
import { chgKey, curKey, dlKey, fwdKey, inKey, leaseKey, outboxKey, partIndexKey, stateKey } from './key-layout.js';

export function commitArgs(c: Commit, token: string): { keys: string[]; args: Array<string | number> } {
  const tag = c.pipeline;
  const stateKeys: string[] = [];
  const values: string[] = [];
  // Composite keys are indexed by each part (see keysWithPart), in the same script as the states.
  const index = new Map<string, Array<string | number>>();
  for (const [ref, state] of c.writes) {
    stateKeys.push(stateKey(ref));
    values.push(JSON.stringify(state));
    if (!ref.key.includes('|')) continue;
    for (const part of new Set(ref.key.split('|'))) {
      const k = partIndexKey(ref.pipeline, ref.reducer, ref.version, part);
      const members = index.get(k);
      if (members) members.push(c.offset, ref.key);
      else index.set(k, [c.offset, ref.key]);
    }
  }
  const indexArgs: Array<string | number> = [];
  for (const members of index.values()) indexArgs.push(members.length / 2, ...members);
  const keys = [leaseKey(tag), curKey(tag), outboxKey(tag), dlKey(tag), fwdKey(tag), ...stateKeys, ...index.keys(), inKey(tag), chgKey(tag)];
  const args: Array<string | number> = [
    token,
    c.from ?? '',
    c.offset,
    c.clock === undefined ? '' : String(c.clock),
    c.outboxDone ?? 0,
    c.outbox ? JSON.stringify(c.outbox) : '',
    stateKeys.length,
    index.size,
    c.apply ?? '',
    c.rp?.length ?? 0,
    c.check ? `0-${c.check.offset + 1}` : '',
    c.check ? (c.check.at === null ? '-' : String(c.check.at)) : '',
    ...(c.rp ?? []).flatMap((m) => [m.source, m.from, m.to]),
    c.forward?.length ?? 0,
    ...(c.forward ?? []).flatMap((f) => [f.to, f.reducer, f.key, f.o, f.at, JSON.stringify(f.event)]),
    ...values,
    ...indexArgs,
    c.changes ? JSON.stringify(c.changes) : '',
    ...(c.deadLetters ?? []).map((l) => JSON.stringify(l)),
  ];
  return { keys, args };
}
