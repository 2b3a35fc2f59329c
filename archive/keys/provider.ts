// The deployment master key (KEK) behind a small interface (docs/scale-out.md §10.1): it wraps the per-learner
// data keys and yields the pseudonym key. The local provider reads 32 bytes from a key file or the environment;
// a KMS plugs in as a module exporting a KeyProvider (the KEK then never leaves the KMS).
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface KeyProvider {
  /** Recorded with every wrapped key (rotation: which KEK wrapped it). Never secret. */
  readonly id: string;
  wrap(dek: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  /** The HMAC key of learner pseudonyms (a separate secret from the KEK). */
  pseudonymKey(): Promise<Uint8Array>;
}

export const MASTER_KEY_FILE_ENV = 'LOFLOW_MASTER_KEY_FILE';
export const MASTER_KEY_ENV = 'LOFLOW_MASTER_KEY';
export const KEY_PROVIDER_ENV = 'LOFLOW_KEY_PROVIDER';

const IV = 12;
const TAG = 16;

/** 32 bytes from text: base64 (44 chars) or hex (64 chars); anything else is refused with the reason. */
function parseKeyText(text: string, where: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === 32) return b;
    throw new Error(`${where} holds ${b.length} bytes of base64: the master key must be 32 bytes (make one with: openssl rand -base64 32)`);
  }
  throw new Error(`${where} is not a 32-byte key in base64 or hex (make one with: openssl rand -base64 32)`);
}

/** A key file: exactly 32 raw bytes, or base64/hex text of 32 bytes. */
export function readMasterKeyFile(file: string): Buffer {
  if (!existsSync(file)) throw new Error(`no master key file ${file} (create one: openssl rand -base64 32 > ${file}; chmod 600 ${file})`);
  const raw = readFileSync(file);
  if (raw.length === 32) return raw;
  if (raw.length < 32) throw new Error(`the master key file ${file} is too short (${raw.length} bytes): it must hold 32 random bytes, raw or as base64/hex`);
  return parseKeyText(raw.toString('utf8'), `the master key file ${file}`);
}

/** The local provider: KEK and pseudonym key are derived (HKDF-SHA256) from one 32-byte master key. */
export class LocalKeyProvider implements KeyProvider {
  readonly id: string;
  private readonly kek: Buffer;
  private readonly kp: Buffer;
  constructor(master: Uint8Array) {
    if (master.length !== 32) throw new Error(`the master key must be 32 bytes, not ${master.length}`);
    const derive = (info: string) => Buffer.from(hkdfSync('sha256', master, new Uint8Array(0), info, 32));
    this.kek = derive('loflow/kek');
    this.kp = derive('loflow/pseudonym');
    // A fingerprint, not the key: tells which master key wrapped a data key.
    this.id = `local:${createHash('sha256').update(derive('loflow/key-id')).digest('hex').slice(0, 16)}`;
  }
  async wrap(dek: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const iv = randomBytes(IV);
    const c = createCipheriv('aes-256-gcm', this.kek, iv);
    c.setAAD(aad);
    const ct = Buffer.concat([c.update(dek), c.final()]);
    return Buffer.concat([iv, ct, c.getAuthTag()]);
  }
  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    if (wrapped.length < IV + TAG + 1) throw new Error('a wrapped data key is truncated');
    const b = Buffer.from(wrapped);
    const d = createDecipheriv('aes-256-gcm', this.kek, b.subarray(0, IV));
    d.setAAD(aad);
    d.setAuthTag(b.subarray(b.length - TAG));
    try {
      return Buffer.concat([d.update(b.subarray(IV, b.length - TAG)), d.final()]);
    } catch {
      throw new Error(`a data key does not unwrap with master key ${this.id}: a different master key, or a tampered key store`);
    }
  }
  async pseudonymKey(): Promise<Uint8Array> {
    return this.kp;
  }
}

export interface KeyProviderOptions {
  /** --master-key-file (wins over the environment). */
  masterKeyFile?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The configured provider, or null when none is (the archive then stays plaintext). Order: --master-key-file,
 * LOFLOW_KEY_PROVIDER (a module: KMS), LOFLOW_MASTER_KEY_FILE, LOFLOW_MASTER_KEY.
 */
export async function openKeyProvider(opts: KeyProviderOptions = {}): Promise<KeyProvider | null> {
  const env = opts.env ?? process.env;
  if (opts.masterKeyFile) return new LocalKeyProvider(readMasterKeyFile(resolve(opts.masterKeyFile)));
  const mod = env[KEY_PROVIDER_ENV];
  if (mod) return loadProviderModule(mod);
  const file = env[MASTER_KEY_FILE_ENV];
  if (file) return new LocalKeyProvider(readMasterKeyFile(resolve(file)));
  const text = env[MASTER_KEY_ENV];
  if (text !== undefined) {
    if (text.trim() === '') throw new Error(`${MASTER_KEY_ENV} is set but empty`);
    return new LocalKeyProvider(parseKeyText(text, MASTER_KEY_ENV));
  }
  return null;
}

/** A KMS module: exports `keyProvider` (a KeyProvider, or a function returning one) or a default of either. */
async function loadProviderModule(spec: string): Promise<KeyProvider> {
  const url = existsSync(spec) ? pathToFileURL(resolve(spec)).href : spec;
  const m = (await import(url)) as Record<string, unknown>;
  let p = m.keyProvider ?? m.default;
  if (typeof p === 'function') p = await (p as () => unknown)();
  const k = p as KeyProvider | undefined;
  if (!k || typeof k.id !== 'string' || typeof k.wrap !== 'function' || typeof k.unwrap !== 'function' || typeof k.pseudonymKey !== 'function') {
    throw new Error(`${KEY_PROVIDER_ENV}=${spec} does not export a KeyProvider (keyProvider or default: {id, wrap, unwrap, pseudonymKey})`);
  }
  return k;
}

/** Create a master key file (base64 text, mode 600) if none exists; true when it was created. */
export function ensureMasterKeyFile(file: string): boolean {
  if (existsSync(file)) return false;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return true;
}
