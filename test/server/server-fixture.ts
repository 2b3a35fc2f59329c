import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compilePipeline, compilePipelineFile } from '../../engine/compiler.js';
import { Engine } from '../../engine/runtime.js';
import { startServer, type ServerOptions } from '../../engine/server/index.js';

export const demoPipeline = join(import.meta.dirname, '../../pipelines/writing-observer.yaml');

/** The demo pipeline served on a free port; `roster` replaces its roster file (e.g. one with more columns). */
export async function demoServer(opts: Partial<ServerOptions> = {}, roster?: string) {
  const { pipeline } = roster ? await compilePipeline(readFileSync(demoPipeline, 'utf8').replace('rosters/demo.csv', roster), demoPipeline) : await compilePipelineFile(demoPipeline);
  const engine = new Engine(pipeline!);
  await engine.start();
  const s = await startServer({ pipeline: pipeline!, engine, port: 0, auth: { teacherTokens: { 'tok-ada': 't-ada', 'tok-bo': 't-bo' }, ...opts.auth }, ...opts });
  return {
    ...s,
    engine,
    post: (body: string, headers: Record<string, string> = {}) =>
      fetch(`${s.url}/v1/events`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } }),
    get: (path: string, token?: string) => fetch(`${s.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }),
    async close() {
      await s.stop();
      await engine.stop();
    },
  };
}

export const keystroke = (user: string, ts: number, key = 'a') => ({ event: 'keystroke', ts, auth: { user_id: user }, doc_id: 'd1', keystroke: { type: 'keydown', key } });
