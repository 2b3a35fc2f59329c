// Unwrapped data keys, cached where they are used (the writer thread, a reader's process), never stored. A
// writer creates a missing key (random, wrapped by the KEK, stored first-writer-wins); a reader only finds
// keys: a missing one means erased or expired.
import { randomBytes } from 'node:crypto';
import type { DekStore } from './dek-store.js';
import type { KeyProvider } from './provider.js';

/** What wraps a data key to its place: the pipeline and the kid (a key moved to another kid does not unwrap). */
export const wrapAad = (pipeline: string, kid: string) => new TextEncoder().encode(`loflow/dek\0${pipeline}\0${kid}`);

export class Keyring {
  private readonly cache = new Map<string, Uint8Array>();
  constructor(
    readonly provider: KeyProvider,
    readonly store: DekStore,
    readonly pipeline: string,
  ) {}

  /** The key of `kid`, or undefined when the store has none (erased, expired, or never written). */
  async find(kid: string): Promise<Uint8Array | undefined> {
    const hit = this.cache.get(kid);
    if (hit) return hit;
    const w = await this.store.getWrapped(kid);
    if (!w) return undefined;
    const dek = await this.provider.unwrap(w.wrapped, wrapAad(this.pipeline, kid));
    this.cache.set(kid, dek);
    return dek;
  }

  /** The key of `kid`, created if the store has none. */
  async get(kid: string): Promise<Uint8Array> {
    const found = await this.find(kid);
    if (found) return found;
    const dek = randomBytes(32);
    const aad = wrapAad(this.pipeline, kid);
    const stored = await this.store.putIfAbsent(kid, { kek: this.provider.id, wrapped: await this.provider.wrap(dek, aad) });
    const key = await this.provider.unwrap(stored.wrapped, aad); // another writer's key if it came first
    this.cache.set(kid, key);
    return key;
  }

  /** Forget cached keys (after their deletion: this process must not keep encrypting or reading with them). */
  forget(kids: Iterable<string>): void {
    for (const k of kids) this.cache.delete(k);
  }
}
