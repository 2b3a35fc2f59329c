// When an archive is encrypted: a master key is configured (--master-key-file, LOFLOW_KEY_PROVIDER,
// LOFLOW_MASTER_KEY_FILE or LOFLOW_MASTER_KEY). Without one the archive is plaintext, as before.
import type { DekStore } from './keys/dek-store.js';
import { FileDekStore } from './keys/file-dek-store.js';
import { ensureMasterKeyFile, openKeyProvider, type KeyProvider } from './keys/provider.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ThreadCrypto } from './thread-protocol.js';
import type { WriterCrypto } from './writer.js';

/** The data key store: `redis://…` / `redis-cluster://…`, else the archive's keys folder (<archive>/keys). */
export async function openDekStore(archiveDir: string, pipeline: string, keys?: string): Promise<DekStore> {
  if (keys && /^redis(s|-cluster)?:\/\//.test(keys)) {
    // Loaded only here: ioredis is a heavy import for every archive command and writer thread that never uses it.
    const { RedisDekStore } = await import('./keys/redis-dek-store.js');
    return RedisDekStore.connect(keys, pipeline);
  }
  if (keys) return new FileDekStore(keys);
  return FileDekStore.forArchive(archiveDir);
}

/** The writer's provider and key store; throws when crypto was asked for and no master key is configured. */
export async function openWriterCrypto(archiveDir: string, pipeline: string, c: ThreadCrypto): Promise<WriterCrypto> {
  const provider = await openKeyProvider({ masterKeyFile: c.masterKeyFile });
  if (!provider) throw new Error('archive encryption asked for, but no master key is configured (--master-key-file, LOFLOW_MASTER_KEY_FILE or LOFLOW_MASTER_KEY)');
  return { provider, deks: await openDekStore(archiveDir, pipeline, c.keys) };
}

/** What a CLI reader was given: --master-key-file and --keys (redis://… or a keys folder). */
export interface KeyOptions {
  masterKeyFile?: string;
  keys?: string;
}

/** A reader's keys for an encrypted archive named `pipeline` in `archiveDir`; a clear error without a master key. */
export async function readerKeys(archiveDir: string, pipeline: string, o: KeyOptions = {}): Promise<WriterCrypto> {
  const provider = await openKeyProvider({ masterKeyFile: o.masterKeyFile });
  if (!provider) throw new Error('this archive is encrypted: reading its events needs its master key (--master-key-file FILE, or LOFLOW_MASTER_KEY_FILE / LOFLOW_MASTER_KEY)');
  return { provider, deks: await openDekStore(archiveDir, pipeline, o.keys) };
}

/**
 * A demo's archive encryption: a configured master key wins; else a new archive gets a demo master key file
 * (`keyFile`, outside the archive folder: a key kept beside its ciphertext protects nothing), created once and
 * reused. An existing plaintext archive stays plaintext (it cannot be continued encrypted). `note` says which.
 */
export async function demoCrypto(archiveDir: string, keyFile: string): Promise<{ crypto?: ThreadCrypto; note: string }> {
  if (await openKeyProvider()) return { crypto: {}, note: '' };
  if (existsSync(join(archiveDir, 'HEAD')) && !existsSync(keyFile)) return { note: `archive ${archiveDir} is plaintext (written before encryption; erasure cannot shred it): start with a new archive folder to encrypt` };
  const created = ensureMasterKeyFile(keyFile);
  return {
    crypto: { masterKeyFile: keyFile },
    note: `${created ? 'created the demo master key' : 'archive encrypted with the demo master key'} ${keyFile} (data keys in ${join(archiveDir, 'keys')}; without this file the archive cannot be read)`,
  };
}

/** The configured provider, if any: decides whether a new archive is encrypted. */
export function configuredProvider(masterKeyFile?: string): Promise<KeyProvider | null> {
  return openKeyProvider({ masterKeyFile });
}
