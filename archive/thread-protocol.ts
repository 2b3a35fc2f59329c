// The messages between an archive sink (main thread) and its writer thread (archive/writer-thread.ts).
// Events cross as the UTF-8 bytes of their JSON texts, in buffers transferred (not copied) to the thread:
// cheaper to send than a structured clone of the objects (4,096 demo events: postMessage of the objects
// ~10.6 ms), and an event that came as JSON (an HTTP body's, engine/log/raw-json.ts) goes as its own text,
// never stringified again (1,000 extension events: ~1 µs an event on the main thread; stringified and
// posted as one string ~4 µs). The thread parses each event's text alone: one string of a whole append is
// a large object to allocate, and decoding plus parsing it cost twice as much. JSON's value mapping (undefined
// fields dropped, undefined in an array and non-finite numbers -> null) is the one the writer's DAG-CBOR
// encoding applies anyway, so the archive bytes are the same as the in-thread writer's for JSON events (what
// ingest gives). Not for objects with toJSON (a Date becomes its ISO string here, {} in-thread). Values
// JSON cannot carry (a BigInt, a cycle) fall back to a structured clone of that append.
import type { ArchiveEraseRequest, ArchiveEraseResult } from '../engine/types.js';
import type { CommitOptions } from './writer.js';

/** What the thread opens: workerData. */
export interface ThreadInit {
  dir: string;
  name: string;
  text: string;
  sources: string[];
  chunkEvents?: number;
  /** Encryption: the thread opens the key provider itself (--master-key-file, else the environment it shares). */
  crypto?: ThreadCrypto;
}

export interface ThreadCrypto {
  masterKeyFile?: string;
  /** The data key store: a redis:// URL, else the archive's keys folder. */
  keys?: string;
}

/** What is durable: the writer's durableOffset() and durableThrough() of every stream it knows. */
export interface Durable {
  raw: number;
  through: Record<string, number>;
}

/** One append's events: [offset, at, event] triples (the events as JSON texts, or in the fallback cloned). */
export type Triple = [offset: number, at: number, event: unknown];

export type Op =
  /** Event i's JSON text is bytes[ends[i-1] (0 for the first), ends[i]) in UTF-8; its offset meta[2i], time meta[2i+1]. */
  | { id: number; op: 'append'; stream: string; bytes: Uint8Array; ends: Uint32Array; meta: Float64Array }
  | { id: number; op: 'append'; stream: string; triples: Triple[] }
  | { id: number; op: 'commit'; options?: CommitOptions }
  | { id: number; op: 'erase'; req: ArchiveEraseRequest }
  | { id: number; op: 'close' };

/** Main -> thread: ops in call order (those of one tick go in one message). */
export interface OpsMessage {
  ops: Op[];
}

export type Result = { id: number; ok: true; cid?: string; durable?: Durable; erased?: ArchiveEraseResult } | { id: number; ok: false; error: string };

/** Thread -> main. */
export type ThreadMessage = { type: 'ready'; durable: Durable } | { type: 'open-failed'; error: string } | { type: 'results'; results: Result[] };
