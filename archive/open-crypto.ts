// When an archive is encrypted: a master key is configured (--master-key-file, LOFLOW_KEY_PROVIDER,
// LOFLOW_MASTER_KEY_FILE or LOFLOW_MASTER_KEY). Without one the archive is plaintext, as before.
import type { DekStore } from './keys/dek-store.js';
import { FileDekStore } from './keys/file-dek-store.js';
import { openKeyProvider, type KeyProvider } from './keys/provider.js';
import { RedisDekStore } from './keys/redis-dek-store.js';
import type { ThreadCrypto } from './thread-protocol.js';
import type { WriterCrypto } from './writer.js';

/** The data key store: `redis://…` / `redis-cluster://…`, else the archive's keys folder (<archive>/keys). */
export async function openDekStore(archiveDir: string, pipeline: string, keys?: string): Promise<DekStore> {
  if (keys && /^redis(s|-cluster)?:\/\//.test(keys)) return RedisDekStore.connect(keys, pipeline);
  if (keys) return new FileDekStore(keys);
  return FileDekStore.forArchive(archiveDir);
}

/** The writer's provider and key store; throws when crypto was asked for and no master key is configured. */
export async function openWriterCrypto(archiveDir: string, pipeline: string, c: ThreadCrypto): Promise<WriterCrypto> {
  const provider = await openKeyProvider({ masterKeyFile: c.masterKeyFile });
  if (!provider) throw new Error('archive encryption asked for, but no master key is configured (--master-key-file, LOFLOW_MASTER_KEY_FILE or LOFLOW_MASTER_KEY)');
  return { provider, deks: await openDekStore(archiveDir, pipeline, c.keys) };
}

/** The configured provider, if any: decides whether a new archive is encrypted. */
export function configuredProvider(masterKeyFile?: string): Promise<KeyProvider | null> {
  return openKeyProvider({ masterKeyFile });
}
