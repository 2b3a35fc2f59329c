import { resolve } from 'node:path';
import { CID, decodeBlock } from '../../archive/blocks.js';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { exportCar, verifyCar } from '../../archive/car.js';
import type { CommitBlock } from '../../archive/writer.js';
import { parseArgs, type Command } from './command.js';

const usage = `loflow archive <subcommand> [options]

Subcommands:
  export --out x.car [--dir D] [--commit CID]   write the DAG of a commit (default HEAD) as a CARv1 file
                                                and print its root CID
  verify x.car                                  check every block's hash and that the DAG is complete;
                                                names the first bad block (exit 1)
  log [--dir D]                                 commits, newest first (like git log)
  ls [--dir D]                                  streams of the HEAD commit with event counts
Options:
  --dir D    the archive folder (default .loflow/<pipeline>/archive; see \`loflow serve --data\`)
  --help     this text`;

async function headCommit(store: FolderBlockstore, cid?: string): Promise<{ cid: CID; commit: CommitBlock } | undefined> {
  const c = cid ? CID.parse(cid) : await store.head();
  if (!c) return undefined;
  return { cid: c, commit: decodeBlock<CommitBlock>(await store.get(c)) };
}

export const archiveCommand: Command = {
  name: 'archive',
  summary: 'export, verify and inspect the content-addressed event archive (IPLD, CAR)',
  usage,
  async run(argv) {
    const { positionals, options } = parseArgs(argv, ['help']);
    const [sub, arg] = positionals;
    if (options.help || !sub) {
      console.log(usage);
      return options.help ? 0 : 2;
    }
    const dir = resolve(typeof options.dir === 'string' ? options.dir : '.loflow/archive');
    if (sub === 'verify') {
      if (!arg) {
        console.error('usage: loflow archive verify x.car');
        return 2;
      }
      const r = await verifyCar(arg);
      if (r.ok) console.log(`ok ${arg}: root ${r.root}, ${r.blocks} blocks, ${r.bytes} bytes, every hash checked, DAG complete`);
      else console.error(`FAILED ${arg}: ${r.error}`);
      return r.ok ? 0 : 1;
    }
    const store = new FolderBlockstore(dir);
    if (sub === 'export') {
      if (typeof options.out !== 'string') {
        console.error('archive export needs --out x.car');
        return 2;
      }
      const head = await headCommit(store, typeof options.commit === 'string' ? options.commit : undefined);
      if (!head) {
        console.error(`no commit in ${dir}: run a pipeline with an archive section first`);
        return 1;
      }
      const r = await exportCar(store, head.cid, options.out);
      console.log(head.cid.toString());
      console.error(`wrote ${options.out}: ${r.blocks} blocks, ${r.bytes} bytes`);
      return 0;
    }
    if (sub === 'log' || sub === 'ls') {
      let head = await headCommit(store);
      if (!head) {
        console.error(`no commit in ${dir}`);
        return 1;
      }
      if (sub === 'ls') {
        for (const [s, n] of Object.entries(head.commit.counts)) console.log(`${s.padEnd(20)} ${String(n).padStart(10)} events  head ${head.commit.heads[s]}`);
        return 0;
      }
      while (head) {
        const c: CommitBlock = head.commit;
        console.log(`commit ${head.cid}\nDate:  ${new Date(c.time).toISOString()}\nPipeline: ${c.name} (${c.pipeline})\n    ${Object.entries(c.counts).map(([s, n]) => `${s}: ${n}`).join(', ')}\n`);
        head = c.prev ? await headCommit(store, c.prev.toString()) : undefined;
      }
      return 0;
    }
    console.error(`unknown archive subcommand '${sub}'\n\n${usage}`);
    return 2;
  },
};
