// Exchange edges on the in-memory store (one process, P > 1 partition tasks; docs/scale-out.md §6): the
// same protocol as Redis (engine/state/redis-exchange.ts) over in-memory lists. A commit's forwards land in
// the source's fwd list and its rp cursor moves are compared and set in the same synchronous commit; the
// forwarder copies fwd entries to the target's rp list under their own ids, refusing an id not above the
// list's last (a repeat). Nothing survives the process, like the store's states.
import { partitionStoreName } from '../partition.js';
import type { Commit, ExchangeLink, ForwardItem, InboundItem, RpMove } from '../types.js';

interface Entry {
  id: number;
  item: ForwardItem;
}

/** One partition's exchange records: fwd, the rp lists by source with their last ids, and the committed cursors. */
interface Records {
  fwd: Entry[];
  fwdNext: number;
  rp: Map<number, Entry[]>;
  rpLast: Map<number, number>;
  cursors: Map<number, number>;
  apply: number;
}

const idText = (n: number) => `0-${n}`;
const idNumber = (id: string) => Number(id.slice(id.indexOf('-') + 1));

/** The store's exchange records, by partition tag. */
export class MemoryExchangeBoard {
  private readonly tags = new Map<string, Records>();

  records(tag: string): Records {
    let r = this.tags.get(tag);
    if (!r) this.tags.set(tag, (r = { fwd: [], fwdNext: 1, rp: new Map(), rpLast: new Map(), cursors: new Map(), apply: 0 }));
    return r;
  }

  /** Before a commit writes anything: each rp move must start at the committed cursor (else CONFLICT, nothing written). */
  check(c: Commit): void {
    const r = this.records(c.pipeline);
    for (const m of c.rp ?? []) {
      const at = r.cursors.get(m.source) ?? 0;
      if (at !== idNumber(m.from)) throw Object.assign(new Error(`commit conflict on ${c.pipeline}: its rp:${m.source} cursor is at ${idText(at)}, not ${m.from}; nothing was written`), { code: 'CONFLICT' });
    }
  }

  /** With the commit's states: cursors, apply sequence and the forwards into fwd. */
  apply(c: Commit): void {
    const r = this.records(c.pipeline);
    for (const m of c.rp ?? []) r.cursors.set(m.source, idNumber(m.to));
    if (c.apply !== undefined) r.apply = c.apply;
    for (const item of c.forward ?? []) r.fwd.push({ id: r.fwdNext++, item });
  }
}

export class MemoryExchange implements ExchangeLink {
  applied = 0;
  /** Items a forward found copied already (refused as repeats). */
  refused = 0;
  private readonly cursors = new Map<number, number>();
  private readonly tag: string;

  constructor(
    private readonly board: MemoryExchangeBoard,
    private readonly pipeline: string,
    readonly n: number,
    private readonly count: number,
  ) {
    this.tag = partitionStoreName(pipeline, n, count);
  }

  get forwardPending(): number {
    return this.board.records(this.tag).fwd.length;
  }

  get busy(): boolean {
    return this.forwardPending > 0;
  }

  async open(): Promise<void> {
    const r = this.board.records(this.tag);
    this.applied = r.apply;
    for (let m = 0; m < this.count; m++) if (m !== this.n) this.cursors.set(m, r.cursors.get(m) ?? 0);
    this.forward();
  }

  async read(max: number): Promise<{ items: InboundItem[]; moves: RpMove[]; more: boolean }> {
    const r = this.board.records(this.tag);
    const per = Math.max(16, Math.ceil(max / Math.max(1, this.count - 1)));
    const items: InboundItem[] = [];
    const moves: RpMove[] = [];
    let more = false;
    for (const [source, at] of this.cursors) {
      const waiting = (r.rp.get(source) ?? []).filter((e) => e.id > at);
      const list = waiting.slice(0, per);
      if (waiting.length > per) more = true;
      if (!list.length) continue;
      for (const e of list) items.push({ source, id: idText(e.id), reducer: e.item.reducer, key: e.item.key, event: e.item.event, at: e.item.at, o: e.item.o });
      moves.push({ source, from: idText(at), to: idText(list[list.length - 1].id) });
    }
    items.sort((a, b) => a.at - b.at || a.source - b.source || idNumber(a.id) - idNumber(b.id));
    return { items, moves, more };
  }

  async poll(): Promise<boolean> {
    this.forward();
    const r = this.board.records(this.tag);
    for (const [source, at] of this.cursors) if ((r.rpLast.get(source) ?? 0) > at) return true;
    return false;
  }

  committed(c: Commit): void {
    if (c.apply !== undefined) this.applied = c.apply;
    const r = this.board.records(this.tag);
    for (const m of c.rp ?? []) {
      const to = idNumber(m.to);
      this.cursors.set(m.source, to);
      r.rp.set(m.source, (r.rp.get(m.source) ?? []).filter((e) => e.id > to)); // applied: dropped
    }
    if (c.forward?.length) queueMicrotask(() => this.forward());
  }

  /** Copy fwd to the targets' rp lists under the entries' own ids; a repeat is refused. Then fwd is emptied. */
  forward(): void {
    const r = this.board.records(this.tag);
    for (const e of r.fwd) {
      const target = this.board.records(partitionStoreName(this.pipeline, e.item.to, this.count));
      if (e.id <= (target.rpLast.get(this.n) ?? 0)) {
        this.refused++;
        continue;
      }
      const list = target.rp.get(this.n) ?? [];
      list.push(e);
      target.rp.set(this.n, list);
      target.rpLast.set(this.n, e.id);
    }
    r.fwd = [];
  }

  async close(): Promise<void> {}
}
