// Finding 11: names that are also Object.prototype members (`toString`, `constructor`, `__proto__`) are
// either ordinary names or a clear compile error; a reference to an undefined one is "unknown X", never
// silently accepted (before: `aggregation: toString` validated and the dashboard vanished).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePipeline } from '../../engine/compiler.js';
import { run } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'loflow-names-'));
writeFileSync(join(dir, 'demo.csv'), 'student,class\ns-1,class-a\ns-2,class-a\n');

async function messages(yaml: string): Promise<string[]> {
  const { pipeline, errors } = await compilePipeline(yaml, join(dir, 'p.yaml'));
  if (pipeline) return [];
  return errors.map((e) => `${e.path}: ${e.message}`);
}

const head = 'pipeline: p\nsources: { events: { kind: http, path: /e } }\nrosters: { demo: { file: demo.csv } }\n';

describe('Object member names', () => {
  for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
    it(`an undefined '${name}' referenced as aggregation, key, roster, operator, stream, schema is an error`, async () => {
      const keys = `keys: { student: $.sid, class: { lookup: demo, by: student, column: class } }\n`;
      expect(await messages(`${head}${keys}reducers: { n: { from: events, key: student, op: count } }\naggregations: { ov: { group_by: class, columns: { n: n } } }\ndashboards: { d: { aggregation: ${name} } }\n`)).toEqual([
        `dashboards.d.aggregation: unknown aggregation '${name}'`,
      ]);
      expect(await messages(`${head}${keys}reducers: { n: { from: events, key: ${name}, op: count } }\n`)).toEqual([`reducers.n.key: unknown key '${name}'`]);
      expect(await messages(`${head}keys: { student: $.sid, class: { lookup: ${name}, by: student, column: class } }\nreducers: { n: { from: events, key: student, op: count } }\n`)).toEqual([
        `keys.class.lookup: unknown roster '${name}'`,
      ]);
      expect(await messages(`${head}${keys}reducers: { n: { from: events, key: student, op: ${name} } }\n`)).toEqual([`reducers.n.op: unknown operator '${name}'`]);
      expect(await messages(`${head}${keys}reducers: { n: { from: ${name}, key: student, op: count } }\n`)).toEqual([`reducers.n.from: unknown stream '${name}'`]);
      expect(await messages(`${head}${keys}reducers: { n: { from: events, key: student, op: count } }\naggregations: { ov: { group_by: class, columns: { n: ${name} } } }\n`)).toEqual([
        `aggregations.ov.columns.n: unknown reducer '${name}'`,
      ]);
      const schema = await messages(`pipeline: p\nsources: { events: { kind: http, path: /e, schema: ${name} } }\nkeys: { student: $.sid }\nreducers: { n: { from: events, key: student, op: count } }\n`);
      expect(schema[0]).toMatch(new RegExp(`^sources.events.schema: cannot load event schema '${name}': ENOENT`));
    });
  }

  it("'__proto__' as a name is a compile error wherever a name is defined", async () => {
    const errors = await messages(
      `${head}keys: { __proto__: $.sid, class: { lookup: demo, by: __proto__, column: class } }\n` +
        `reducers: { n: { from: events, key: __proto__, op: count, emit: __proto__ } }\n` +
        `aggregations: { ov: { group_by: class, columns: { __proto__: n }, summary: { __proto__: { op: count } } } }\n`,
    );
    const reserved = "reserved name '__proto__': it has a special meaning in JavaScript; choose another name";
    for (const at of ['keys.__proto__', 'reducers.n.emit', 'aggregations.ov.columns.__proto__', 'aggregations.ov.summary.__proto__']) {
      expect(errors).toContain(`${at}: ${reserved}`);
    }
  });

  it('toString, constructor, valueOf, hasOwnProperty work as ordinary names (loflow test runs them)', async () => {
    const file = join(dir, 'names.yaml');
    writeFileSync(
      file,
      `pipeline: names
sources: { toString: { kind: http, path: /e } }
rosters: { constructor: { file: demo.csv } }
keys: { valueOf: $.sid, hasOwnProperty: { lookup: constructor, by: valueOf, column: class } }
reducers:
  constructor: { from: toString, key: valueOf, op: count, emit: hasOwnProperty }
  valueOf: { from: hasOwnProperty, key: valueOf, op: count }
aggregations:
  toString:
    group_by: hasOwnProperty
    columns: { constructor: constructor, toString: valueOf }
    summary: { valueOf: { op: sum, of: constructor } }
dashboards: { constructor: { aggregation: toString } }
tests:
  - name: every name is there
    input:
      - toString: [{ event: e, sid: s-1, ts: 1 }, { event: e, sid: s-1, ts: 2 }, { event: e, sid: s-2, ts: 3 }]
    expect:
      - { reducer: constructor, key: s-1, view: 2 }
      - { aggregation: toString, group: class-a, summary: { valueOf: 3 } }
      - { aggregation: toString, group: class-a, member: s-2, row: { member: s-2, constructor: 1 } }
`,
    );
    const v = await run('validate', file);
    expect(v.stdout).toMatch(/1 sources, 2 reducers, 1 derived streams, 1 aggregations, 1 dashboards/);
    const t = await run('test', file);
    expect(t.stderr + t.stdout).toMatch(/1 passed/);
    expect(t.code).toBe(0);
  });
});
