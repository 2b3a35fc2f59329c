// /metrics: per-reducer key count and state size.
import { afterAll, describe, expect, it } from 'vitest';
import { compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { estimateStateBytes } from '../../engine/server/metrics.js';
import { demoPipeline, demoServer, keystroke } from './server-fixture.js';

describe('/metrics per reducer', () => {
  const servers: Array<{ close(): Promise<void> }> = [];
  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  it('reports keys and state bytes per reducer', async () => {
    const s = await demoServer();
    servers.push(s);
    const events = [keystroke('s-0000', 1), keystroke('s-0000', 2), keystroke('s-0001', 3), keystroke('s-0002', 4)];
    expect((await s.post(JSON.stringify(events))).status).toBe(200);
    await s.engine.flush();
    const text = await (await s.get('/metrics')).text();
    expect(text).toMatch(/^loflow_reducer_keys\{reducer="events"\} 3$/m);
    // count states are 2, 1, 1: each key's JSON plus its name (6 bytes), measured exactly below 200 keys.
    expect(text).toMatch(/^loflow_reducer_state_bytes\{reducer="events"\} 21$/m);
    const bytes = Number(/^loflow_reducer_state_bytes\{reducer="bursts"\} (\d+)$/m.exec(text)![1]);
    expect(bytes).toBeGreaterThan(3 * 6);
    expect(text).toMatch(/^loflow_reducer_state_bytes\{reducer="text"\} 0$/m);
  });

  it('estimates from a sample when a reducer holds many keys', async () => {
    const { pipeline } = await compilePipelineFile(demoPipeline);
    const engine = new Engine(pipeline!);
    const events = [];
    for (let i = 0; i < 5000; i++) events.push(keystroke(`u-${i}`, i, 'x'.repeat(i % 7)));
    await engine.ingest('batch', events);
    await engine.flush();
    let exact = 0;
    for (const k of engine.keys('bursts')) exact += JSON.stringify(engine.stateOf('bursts', k)).length + k.length;
    const estimate = estimateStateBytes(engine, 'bursts');
    expect(Math.abs(estimate - exact) / exact).toBeLessThan(0.05);
    await engine.stop();
  });
});
