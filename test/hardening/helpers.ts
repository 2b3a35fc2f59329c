// Shared by the hardening tests: the real `loflow serve` (dist/, as bin/loflow.js runs it) on a copy of the
// demo pipeline in a temporary folder, and readers of what it left behind (archive, dead letters).
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderBlockstore } from '../../archive/blockstore.js';
import { FileDekStore, openKeyProvider } from '../../archive/keys/index.js';
import { openArchive } from '../../archive/replay-source.js';
import type { DeadLetter } from '../../engine/types.js';

export const root = join(import.meta.dirname, '../..');

/** A folder with the demo pipeline (renamed, archive committed only by a graceful stop) and its roster. */
export function demoDir(name: string): { dir: string; file: string; args: string[] } {
  const dir = mkdtempSync(join(tmpdir(), `loflow-${name}-`));
  mkdirSync(join(dir, 'rosters'));
  copyFileSync(join(root, 'pipelines/rosters/demo.csv'), join(dir, 'rosters/demo.csv'));
  const file = join(dir, 'pipeline.yaml');
  const text = readFileSync(join(root, 'pipelines/writing-observer.yaml'), 'utf8').replace('pipeline: writing-observer', `pipeline: ${name}`).replace('commit_every: 10s', 'commit_every: 1h');
  writeFileSync(file, text);
  return { dir, file, args: [file, '--log', join(dir, 'log'), '--archive', join(dir, 'archive'), '--data', join(dir, 'data'), '--demo-tokens', '--demo'] };
}

export interface Served {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

export function serve(args: string[]): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [join(root, 'bin/loflow.js'), 'serve', ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /live at (http:\/\/[\d.:]+)/.exec(out);
      if (m) resolve({ child, url: m[1], stderr: () => err });
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}${err}`)));
  });
}

export function stop(s: Served, signal: NodeJS.Signals = 'SIGTERM'): Promise<unknown> {
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill(signal);
  return exited;
}

export async function health(url: string): Promise<{ status: number; body: { ok: boolean; error: string | null; committed_offset: number; log_end: number; archive_skipped?: number } }> {
  const r = await fetch(`${url}/healthz`);
  return { status: r.status, body: (await r.json()) as any };
}

/** Wait until every event in the log is processed. */
export async function caughtUp(url: string, n: number): Promise<void> {
  for (;;) {
    const { body } = await health(url);
    if (body.committed_offset >= n && body.log_end === body.committed_offset) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The live `events` count (the `events` reducer) of a student of class-b, as the teacher's dashboard shows it. */
export async function liveEvents(url: string, student: string): Promise<number> {
  const r = await fetch(`${url}/v1/dashboards/overview/class-b?token=demo-t-ada`);
  const body = (await r.json()) as { rows: Array<{ member: string; events: number }> };
  return body.rows.find((x) => x.member === student)?.events ?? 0;
}

/** The archive's raw events (HEAD), with offsets. */
export async function archived(dir: string, streams = ['batch', 'extension']): Promise<Array<{ offset: number; event: any }>> {
  const head = await new FolderBlockstore(join(dir, 'archive')).head();
  if (!head) return [];
  // `serve --demo` encrypts a new archive with a demo master key in its data folder: read with it.
  const dataDir = join(dir, 'data');
  const demoKey = existsSync(dataDir) ? readdirSync(dataDir).map((p) => join(dataDir, p, 'demo-master.key')).find((f) => existsSync(f)) : undefined;
  const keys = demoKey ? { provider: (await openKeyProvider({ masterKeyFile: demoKey, env: {} }))!, deks: FileDekStore.forArchive(join(dir, 'archive')) } : undefined;
  const archive = await openArchive(head.toString(), { dir: join(dir, 'archive'), ...(keys ? { keys } : {}) });
  const out: Array<{ offset: number; event: any }> = [];
  for await (const e of archive.events(streams)) out.push({ offset: e.offset, event: e.event });
  return out.sort((a, b) => a.offset - b.offset);
}

export function deadLetters(dir: string, pipeline: string): DeadLetter[] {
  const file = join(dir, 'data', pipeline, 'deadletters.ndjson');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as DeadLetter);
}

/** The text of an event nested `levels` deep (5,000 levels: about 10 KB), for a student of class-b. */
export function deepEventText(student: string, ts: number, levels = 5000): string {
  return `{"event":"keystroke","ts":${ts},"auth":{"user_id":"${student}"},"keystroke":{"key":"a"},"payload":${'['.repeat(levels)}${']'.repeat(levels)}}`;
}

export const keystroke = (student: string, ts: number) => ({ event: 'keystroke', ts, auth: { user_id: student }, keystroke: { key: 'a' } });
