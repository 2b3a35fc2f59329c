// What a workload reports: figures (a value, optionally against a baseline and a goal), plotted series and
// CPU profiles, collected in a context shared by every workload of a run.
export interface Figure {
  workload: string;
  name: string;
  value: number;
  unit: string;
  baseline?: number;
  /** value / baseline (for throughput: how much of the baseline loflow reaches). */
  ratio?: number;
  goal?: string;
  met?: boolean;
  note?: string;
}

export interface Series {
  title: string;
  x: string;
  y: string;
  points: Array<{ label: string; x: number; y: number }>;
}

export interface Profile {
  title: string;
  /** Top functions by self time: [percent, function location]. */
  top: Array<[number, string]>;
  /** Self time grouped by dependency or loflow folder. */
  byArea?: Array<[number, string]>;
}

export interface Ctx {
  profiles: Profile[];
  quick: boolean;
  dir: string;
  figures: Figure[];
  series: Series[];
  log(msg: string): void;
  /** Extra checkpoint URLs for the recovery workload (`loflow bench --checkpoint URL`). */
  checkpoints?: string[];
  /** The command line's options (`--duration`, `--rate` for the soak). */
  options?: Record<string, string | boolean>;
  /** The soak's full sample series, written into the run's JSON. */
  soak?: unknown;
}
