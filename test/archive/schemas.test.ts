import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { CID, decodeBlock } from '../../archive/blocks.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { archivedRun, cli, demoOn, root, tmp } from './helpers.js';
import { PartitionedArchive } from '../../archive/partitioned-sink.js';
import { Classroom } from '../../engine/classroom.js';
import { Engine } from '../../engine/runtime.js';
import type { LoEvent } from '../../engine/types.js';
import { randomBytes } from 'node:crypto';
import { FileDekStore, LocalKeyProvider } from '../../archive/keys/index.js';
import { ArchiveWriter } from '../../archive/writer.js';
import { carSource } from '../../archive/read.js';
import { walk } from '../../archive/car.js';

/** The DAG-JSON form of a decoded block: links as {"/": cid}. */
function dagJson(v: unknown): unknown {
  const cid = CID.asCID(v);
  if (cid) return { '/': cid.toString() };
  if (v instanceof Uint8Array) return { '/': { bytes: Buffer.from(v).toString('base64').replace(/=+$/, '') } };
  if (Array.isArray(v)) return v.map(dagJson);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, dagJson(x)]));
  return v;
}

function validators() {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  const dir = join(root, 'schemas');
  for (const f of readdirSync(dir).filter((f) => f.startsWith('archive-'))) ajv.addSchema(JSON.parse(readFileSync(join(dir, f), 'utf8')));
  const byType: Record<string, string> = {
    'loflow/pipeline': 'pipeline',
    'loflow/chunk': 'chunk',
    'loflow/index': 'index',
    'loflow/commit': 'commit',
    'loflow/analysis': 'analysis',
    'loflow/erasure': 'erasure',
    'loflow/part': 'part',
  };
  return (block: any) => {
    const validate = ajv.getSchema(`https://loflow.dev/schemas/archive-${byType[block.type]}.schema.json`);
    if (!validate) throw new Error(`no schema for block type ${block.type}`);
    return validate(dagJson(block)) ? null : ajv.errorsText(validate.errors);
  };
}

describe('archive block schemas', () => {
  it('every block an archive, an analysis log and a filtered, pseudonymized export hold matches its schema', async () => {
    const check = validators();
    const run = await archivedRun({ batches: 4 });
    const car = join(run.dir, '..', 'study.car');
    const r = await cli(['archive', 'export', '--dir', run.dir, '--since', '2000', '--pseudonymize', '--drop-field', 'url', '--out', car], { env: { LOFLOW_PSEUDONYM_KEY: 'k'.repeat(32) } });
    expect(r.code, r.stderr).toBe(0);
    const seen = new Map<string, number>();
    const store = new FolderBlockstore(run.dir);
    for (const name of readdirSync(store.blocks)) {
      const block = decodeBlock<any>(await store.get(name));
      expect(check(block), `${name} (${block.type})`).toBeNull();
      seen.set(block.type, (seen.get(block.type) ?? 0) + 1);
    }
    const src = await carSource(car);
    for await (const b of walk(src, src.root)) {
      const block = decodeBlock<any>(b.bytes);
      expect(check(block), `${b.cid} (${block.type})`).toBeNull();
      if (block.type === 'loflow/commit') expect(block.filter).toBeDefined();
    }
    await src.close();
    expect([...seen.keys()].sort()).toEqual(['loflow/analysis', 'loflow/chunk', 'loflow/commit', 'loflow/index', 'loflow/pipeline']);
    // A partitioned archive (format 3 parts): its commit and loflow/part blocks too.
    const parted = join(tmp(), 'archive');
    const archive = await PartitionedArchive.open(await demoOn(4), parted, { timer: false });
    const engine = new Engine(await demoOn(4), { archive });
    await engine.ingest('extension', [...new Classroom({ students: 8, seed: 1 }).events(200)].map((e) => e.event as LoEvent), 1000);
    await engine.stop();
    const partedTypes = new Set<string>();
    for (const name of readdirSync(new FolderBlockstore(parted).blocks)) {
      const block = decodeBlock<any>(await new FolderBlockstore(parted).get(name));
      expect(check(block), `${name} (${block.type})`).toBeNull();
      partedTypes.add(block.type);
    }
    expect([...partedTypes].sort()).toEqual(['loflow/chunk', 'loflow/commit', 'loflow/index', 'loflow/part', 'loflow/pipeline']);
    // The schemas are strict: an unknown field or a bad link is reported.
    expect(check({ type: 'loflow/commit', name: 'p', pipeline: { '/': 'nope' }, prev: null, time: 1, heads: {}, counts: {}, through: {}, extra: 1 })).toMatch(/additional properties|pattern/);
  });

  it('every block of an encrypted archive after an erasure matches its schema (format 3)', async () => {
    const check = validators();
    const provider = new LocalKeyProvider(randomBytes(32));
    const dir = join(tmp(), 'archive');
    const deks = FileDekStore.forArchive(dir);
    const run = await archivedRun({ dir, batches: 3, crypto: { provider, deks } });
    const w = await ArchiveWriter.open(dir, { name: run.pipeline.name, text: run.pipeline.text, sources: run.pipeline.sources.keys() }, 100, { crypto: { provider, deks } });
    await w.erase({ learner: 's-0001', record: { by: 'dpo', reason: 'request' } });
    await w.commit();
    await w.close();
    const seen = new Set<string>();
    const store = new FolderBlockstore(dir);
    for (const name of readdirSync(store.blocks)) {
      const block = decodeBlock<any>(await store.get(name));
      expect(check(block), `${name} (${block.type})`).toBeNull();
      seen.add(block.type);
      if (block.type === 'loflow/chunk') expect(block.enc).toBeDefined();
    }
    expect([...seen].sort()).toEqual(['loflow/chunk', 'loflow/commit', 'loflow/erasure', 'loflow/index', 'loflow/pipeline']);
  });
});
