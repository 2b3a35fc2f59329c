// A progress line on stderr, only when stderr is a terminal (logs and CI stay clean).

export class Progress {
  private last = 0;
  private readonly t0 = performance.now();
  private readonly tty = process.stderr.isTTY === true;

  constructor(private readonly label: string, private readonly total?: number) {}

  update(done: number): void {
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.last < 200) return;
    this.last = now;
    const rate = done / ((now - this.t0) / 1000);
    const width = 30;
    const bar = this.total
      ? '[' + '#'.repeat(Math.round((width * Math.min(done, this.total)) / this.total)).padEnd(width, '.') + '] '
      : '';
    process.stderr.write(`\r${this.label} ${bar}${done.toLocaleString('en')} events  ${Math.round(rate).toLocaleString('en')} ev/s `);
  }

  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}
