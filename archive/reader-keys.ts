// What a reader of an encrypted archive (format 3, crypto on) needs: the master key provider and the data
// key store, and what it could not read. A chunk whose data key is gone (erased, expired by retention, or
// missing) is not an error: it is skipped and reported with its reason.
import type { CID } from './blocks.js';
import type { CommitBlock, ErasureBlock } from './format.js';
import { Keyring } from './keys/keyring.js';
import type { DekStore } from './keys/dek-store.js';
import { pseudonymizer } from './keys/pseudonym.js';
import type { KeyProvider } from './keys/provider.js';

export interface UnreadableChain {
  stream: string;
  /** The learner's pseudonym (null: the chain of events without a learner). */
  learner: string | null;
  reason: 'erased' | 'key missing';
  /** The first data key found missing, walking back from the chain's head. */
  kid: string;
  /** Events in the chunks that could not be read. */
  events: number;
}

export class ReaderKeys {
  readonly unreadable: UnreadableChain[] = [];
  /** Pseudonyms named by erasure records reachable from the commit read (filled by noteErasures). */
  readonly erased = new Set<string>();
  private constructor(
    readonly keyring: Keyring,
    readonly pseudonym: (id: string) => string,
  ) {}

  static async open(provider: KeyProvider, deks: DekStore, pipeline: string): Promise<ReaderKeys> {
    return new ReaderKeys(new Keyring(provider, deks, pipeline), pseudonymizer(await provider.pseudonymKey()));
  }

  /** Walks the commit history from `root` for erasure records (their pseudonyms explain missing keys). */
  async noteErasures(get: (cid: CID) => Promise<any>, root: CID): Promise<void> {
    for (let cid: CID | null = root; cid; ) {
      const c = (await get(cid)) as CommitBlock;
      for (const e of c.erasures ?? []) this.erased.add(((await get(e)) as ErasureBlock).pseudonym);
      cid = c.prev && c.crypto ? c.prev : null; // history before encryption has no erasure records
    }
  }

  report(stream: string, learner: string | null, kid: string, events: number): void {
    const reason = learner !== null && this.erased.has(learner) ? 'erased' : 'key missing';
    this.unreadable.push({ stream, learner, reason, kid, events });
  }

  /** Distinct learners whose events could not be read, per reason. */
  summary(): { learners: number; erased: number; keyMissing: number; events: number; otherChains: number } {
    const by = new Map<string, string>();
    let events = 0;
    let otherChains = 0;
    for (const u of this.unreadable) {
      events += u.events;
      if (u.learner === null) otherChains++;
      else by.set(u.learner, u.reason);
    }
    const erased = [...by.values()].filter((r) => r === 'erased').length;
    return { learners: by.size, erased, keyMissing: by.size - erased, events, otherChains };
  }
}
