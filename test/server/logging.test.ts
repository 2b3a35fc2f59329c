// Structured logs: refusals and failures are logged with their reason, an outage once when it starts and once
// when processing resumes; all as JSON lines.
import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import pino from 'pino';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { startServer } from '../../engine/server/index.js';
import { MemoryStateStore } from '../../engine/state/memory-store.js';
import type { Commit } from '../../engine/types.js';
import { demoPipeline, keystroke } from './server-fixture.js';

/** The memory store, with an outage switch. */
class SwitchableStore extends MemoryStateStore {
  down = false;
  override async commit(c: Commit) {
    if (this.down) throw Object.assign(new Error('store unreachable'), { code: 'UNAVAILABLE' });
    return super.commit(c);
  }
}

describe('structured logs', () => {
  it('logs refusals with their reason, and an outage once when it starts and once when it ends', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    const { pipeline } = await compilePipelineFile(demoPipeline);
    const store = new SwitchableStore();
    const engine = new Engine(pipeline!, { store, retryMs: 20 });
    await engine.start();
    const s = await startServer({ pipeline: pipeline!, engine, port: 0, auth: { teacherTokens: { 'tok-ada': 't-ada' } }, logger: pino({ level: 'info' }, sink) });
    try {
      expect((await fetch(`${s.url}/v1/dashboards/class_overview/class-a`)).status).toBe(401);
      store.down = true;
      const post = () => fetch(`${s.url}/v1/events`, { method: 'POST', body: JSON.stringify([keystroke('s-0000', 1)]) });
      expect((await post()).status).toBe(200); // accepted into the log; processing waits for the store
      await new Promise((r) => setTimeout(r, 200)); // several retries
      store.down = false;
      await engine.flush();
      const byMsg = (m: string) => lines.filter((l) => l.msg === m);
      expect(byMsg('loflow server started')[0]).toMatchObject({ level: 30, pipeline: 'writing-observer', state: 'memory' });
      expect(byMsg('request refused')).toEqual([expect.objectContaining({ level: 30, status: 401, path: '/v1/dashboards/class_overview/class-a', error: expect.stringMatching(/teacher token is needed/) })]);
      expect(byMsg('batch failed: retrying with back-off, nothing accepted is lost')).toEqual([expect.objectContaining({ level: 40, err: 'store unreachable' })]);
      expect(engine.stats().retries).toBeGreaterThan(1); // retried many times, logged once
      expect(byMsg('processing resumed')).toEqual([expect.objectContaining({ level: 30, committed: 1 })]);
      expect(lines.some((l) => l.msg === 'request')).toBe(false); // successful requests only at debug
    } finally {
      await s.stop();
      await engine.stop();
    }
  });
});
