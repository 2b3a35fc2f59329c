// Exchange edges in one process (an Engine with P > 1 partition tasks on a Redis store, `serve --role all`):
// idle tasks learn that other partitions forwarded items to them by polling (as workers' followers do,
// engine/cluster/owned-partition.ts), and a flush lasts until no item is on its way between partitions.
import type { PartitionTask } from './partition-task.js';

const POLL_MS = 20;

/** Poll every idle task's exchange link; a task with items waiting takes a batch. */
export function pollExchanges(tasks: readonly PartitionTask[]): { stop(): void } {
  const linked = tasks.filter((t) => t.consumer.exchange);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    await Promise.all(
      linked.map(async (t) => {
        const c = t.consumer;
        if (!c.running || c.pumping) return;
        try {
          if (await c.exchange!.poll()) {
            c.inboundWaiting = true;
            c.kick();
          }
        } catch {
          // Redis down: the consumer's own retries report it (health, 503); polling resumes with it.
        }
      }),
    );
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  };
  if (linked.length) timer = setTimeout(poll, POLL_MS);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * After every task flushed: while a forward is under way or a task has items waiting, let them move and flush
 * again. Ends when a full pass finds nothing moving; refuses (like flush) once a task is fenced.
 */
export async function drainExchanges(tasks: readonly PartitionTask[]): Promise<void> {
  const linked = tasks.filter((t) => t.consumer.exchange);
  if (!linked.length) return;
  for (;;) {
    const fenced = tasks.find((t) => t.consumer.fenced)?.consumer.fenced;
    if (fenced) throw fenced;
    let moving = false;
    for (const t of linked) {
      const c = t.consumer;
      if (c.exchange!.busy || c.pumping || c.inboundWaiting) moving = true;
      else if (await c.exchange!.poll()) {
        c.inboundWaiting = true;
        c.kick();
        moving = true;
      }
    }
    if (!moving) return;
    await new Promise((r) => setTimeout(r, 5));
    await Promise.all(tasks.map((t) => t.consumer.flush()));
  }
}
