// How test outcomes are shown: a readable report (each failure at file:line:col, each difference at its
// path inside the value, expected vs actual) and a JSON form for tools.
import { MISSING, show, type Mismatch } from './match.js';
import type { Failure, TestOutcome } from './run.js';

export interface Style {
  pass(s: string): string;
  fail(s: string): string;
  dim(s: string): string;
}

const plain: Style = { pass: (s) => s, fail: (s) => s, dim: (s) => s };
const ansi: Style = { pass: (s) => `\x1b[32m${s}\x1b[0m`, fail: (s) => `\x1b[31m${s}\x1b[0m`, dim: (s) => `\x1b[2m${s}\x1b[0m` };

/** Colours only on a terminal, and never with NO_COLOR set. */
export function styleFor(stream: NodeJS.WriteStream): Style {
  return stream.isTTY && !process.env.NO_COLOR ? ansi : plain;
}

function mismatchLines(m: Mismatch, style: Style): string[] {
  const at = m.path ? `at ${m.path}` : 'the value';
  const e = show(m.expected);
  const a = show(m.actual);
  const note = m.note ? ` ${style.dim(`(${m.note})`)}` : '';
  if (e.length + a.length < 70) return [`${at}: expected ${e}, got ${a}${note}`];
  return [`${at}:${note}`, `  - expected: ${e}`, `  + actual:   ${a}`];
}

export function failureLines(f: Failure, style: Style = plain): string[] {
  const head = `${f.at.file}:${f.at.line}:${f.at.column}: ${f.what}`;
  const out = [head];
  if (f.message) out.push(...f.message.split('\n').map((l) => `  ${l}`));
  for (const m of f.mismatches.slice(0, 20)) out.push(...mismatchLines(m, style).map((l) => `  ${l}`));
  if (f.mismatches.length > 20) out.push(`  ... and ${f.mismatches.length - 20} more differences`);
  return out;
}

export function formatOutcomes(outcomes: TestOutcome[], style: Style = plain): string {
  const lines: string[] = [];
  for (const o of outcomes) {
    if (o.ok) {
      lines.push(`${style.pass('PASS')}  ${o.test.name}`);
      continue;
    }
    lines.push(`${style.fail('FAIL')}  ${o.test.name}  ${style.dim(`(${o.test.at.file}:${o.test.at.line})`)}`);
    for (const f of o.failures) lines.push(...failureLines(f, style).map((l) => `      ${l}`));
  }
  return lines.join('\n');
}

export function summaryLine(outcomes: TestOutcome[]): string {
  const failed = outcomes.filter((o) => !o.ok).length;
  return `${outcomes.length - failed} passed, ${failed} failed`;
}

/** Plain JSON: a missing value becomes absent (undefined), never a symbol. */
export function outcomesJson(outcomes: TestOutcome[]): unknown {
  const v = (x: unknown) => (x === MISSING ? undefined : x);
  return outcomes.map((o) => ({
    name: o.test.name,
    file: o.test.at.file,
    line: o.test.at.line,
    ok: o.ok,
    failures: o.failures.map((f) => ({
      file: f.at.file,
      line: f.at.line,
      column: f.at.column,
      what: f.what,
      ...(f.message ? { message: f.message } : {}),
      mismatches: f.mismatches.map((m) => ({ path: m.path, expected: v(m.expected), actual: v(m.actual), ...(m.note ? { note: m.note } : {}) })),
    })),
  }));
}
