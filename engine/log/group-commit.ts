// Group commit: requests that arrive while a write is in flight wait, then go out together in the next write,
// so many concurrent senders cost one write and one flush to disk (or one statement), not one each.
export class GroupCommit<I, O> {
  private queue: Array<{ item: I; resolve: (o: O) => void; reject: (e: unknown) => void }> = [];
  private flushing: Promise<void> | null = null;

  /** `write` gets every waiting item in arrival order and answers one result per item, or throws for all. */
  constructor(private readonly write: (items: I[]) => Promise<O[]>) {}

  submit(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) this.flushing = this.loop();
    });
  }

  /** Resolves once nothing is waiting or being written. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private async loop(): Promise<void> {
    try {
      while (this.queue.length) {
        const group = this.queue.splice(0);
        try {
          const results = await this.write(group.map((g) => g.item));
          group.forEach((g, i) => g.resolve(results[i]));
        } catch (err) {
          for (const g of group) g.reject(err);
        }
      }
    } finally {
      this.flushing = null;
    }
  }
}
