// The messages between `loflow replay --threads N` and its parse workers (see parallel-parse.ts).

/**
 * Main -> worker: a block of whole lines (it ends at a line end, or at the file's end). The lines are at
 * bytes[1 .. 1 + length), with one spare byte before and after them: the worker rewrites the buffer in place
 * into one JSON array text (see parse-worker.ts) and sends it back, so no text is copied or cloned.
 */
export interface BlockRequest {
  seq: number;
  /** Transferred, not copied. */
  bytes: ArrayBuffer;
  length: number;
}

/** What a worker found on one non-blank line (plain numbers: they travel in a Uint8Array). */
export const LineKind = {
  /** JSON, and its event passed the source's bounds, schema and time checks: ingest need not check again. */
  Valid: 0,
  /** JSON, but refused (or for a stream that is no source): the main thread ingests it with every check on. */
  Refused: 1,
  /** Not JSON: counted and reported, as the one-thread path does. */
  NotJson: 2,
} as const;

/** Worker -> main: the parsed block, in the order of its lines. */
export interface BlockResult {
  seq: number;
  /** Lines in the block, blank ones included (the line numbers go on from here). */
  lines: number;
  /**
   * The request's buffer, now one JSON array text of the block's JSON lines in order (bytes[0, length + 2)):
   * each such line's end turned into ',' (the last one's into ']'), every other byte of a blank or non-JSON
   * line into a space. The main thread parses it in one call: the same values as parsing each line, since
   * each is a whole JSON text; and cheaper than structured clone of the parsed events (~1.5x JSON.parse).
   */
  bytes: ArrayBuffer;
  length: number;
  /** The block is ASCII (decode it as latin1, a plain copy); else UTF-8, as readNdjson decodes. */
  ascii: boolean;
  /** Per non-blank line: its 1-based line number in the block, and its LineKind. */
  lineNo: Int32Array;
  kind: Uint8Array;
  /** The error of each NotJson line, in order (without the `line N:` prefix). */
  errors: string[];
}

/** A worker that could not start (e.g. the pipeline failed to compile in it). */
export interface WorkerFailure {
  seq: -1;
  error: string;
}

export interface WorkerInit {
  /** The pipeline file: the worker compiles it to get the very validators the main thread has. */
  pipelineFile: string;
  /** The source of bare (unwrapped) events. */
  defaultStream: string;
}
