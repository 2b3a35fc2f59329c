// What a pipeline test is once loaded: names resolved, positions attached (file:line:col of each part).
import type { Document, LineCounter } from '../vendor/yaml.js';
import type { Path } from '../compiler/source-map.js';
import type { Json } from '../types.js';
import type { MatchOptions } from './match.js';

export interface Position {
  file: string;
  line: number;
  column: number;
}

/** A YAML file that holds tests (the pipeline itself, or `<name>.test.yaml` beside it). */
export interface TestSource {
  /** As the user wrote it (relative paths stay relative), for messages. */
  file: string;
  /** Absolute path, for writing `--update`s. */
  abs: string;
  text: string;
  doc: Document;
  lines: LineCounter;
  /** Tests are inline in the pipeline file (else in a test file). */
  inline: boolean;
}

export interface InputItem {
  stream: string;
  events: unknown[];
  at: Position;
}

interface Common {
  /** Path of this expectation's mapping in its source document. */
  path: Path;
  at: Position;
  opts: MatchOptions;
}

/** One expectation; `field` is the value it checks (and the one `--update` writes when it has none). */
export type Expectation =
  | (Common & { kind: 'reducer'; reducer: string; key: string; field: 'state' | 'view' | 'absent'; value?: unknown })
  | (Common & { kind: 'emitted'; reducer: string; key?: string; field: 'emitted'; value?: unknown })
  | (Common & { kind: 'aggregation'; aggregation: string; group: string; member?: string; field: 'summary' | 'rows' | 'row'; value?: unknown })
  | (Common & { kind: 'rejected'; reason: string; stream?: string; stage?: string; event?: unknown; field?: undefined; value?: undefined });

export interface PipelineTest {
  name: string;
  source: TestSource;
  /** Path of the test's mapping in its source document. */
  path: Path;
  at: Position;
  /** reducer -> key -> raw state, committed before the input. */
  state: Record<string, Record<string, Json>>;
  input: InputItem[];
  /** undefined or 'record': `--update` records a snapshot; a list: expectations as written. */
  expect: Expectation[] | 'record' | undefined;
}

/** Whether an expectation has a value to check (else `--update` records one). */
export function hasValue(e: Expectation): boolean {
  return e.kind === 'rejected' || e.field === 'absent' || e.value !== undefined;
}
