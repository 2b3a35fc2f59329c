// The keys module against real files and a real redis-server (global setup): master key parsing, wrapping,
// the file and Redis data key stores (first writer wins, deletion removes the bytes), erasure and expiry.
import { describe, expect, inject, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ensureMasterKeyFile, eraseLearnerKeys, expireKeys, FileDekStore, Keyring, learnerPseudonym, openKeyProvider, RedisDekStore, type DekStore } from '../../../archive/keys/index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'loflow-keys-'));

describe('master key provider', () => {
  it('reads raw, base64 and hex keys from a file or the environment, and refuses short or missing ones', async () => {
    const d = tmp();
    const key = randomBytes(32);
    writeFileSync(join(d, 'raw'), key);
    writeFileSync(join(d, 'b64'), key.toString('base64') + '\n');
    const raw = await openKeyProvider({ masterKeyFile: join(d, 'raw'), env: {} });
    const b64 = await openKeyProvider({ env: { LOFLOW_MASTER_KEY_FILE: join(d, 'b64') } });
    const hex = await openKeyProvider({ env: { LOFLOW_MASTER_KEY: key.toString('hex') } });
    expect(raw!.id).toBe(b64!.id);
    expect(hex!.id).toBe(raw!.id);
    expect(await openKeyProvider({ env: {} })).toBeNull();
    writeFileSync(join(d, 'short'), randomBytes(16));
    await expect(openKeyProvider({ masterKeyFile: join(d, 'short') })).rejects.toThrow(/too short \(16 bytes\)/);
    await expect(openKeyProvider({ masterKeyFile: join(d, 'none') })).rejects.toThrow(/no master key file/);
    await expect(openKeyProvider({ env: { LOFLOW_MASTER_KEY: randomBytes(16).toString('base64') } })).rejects.toThrow(/16 bytes of base64/);
    await expect(openKeyProvider({ env: { LOFLOW_MASTER_KEY: '' } })).rejects.toThrow(/empty/);
    // Wrapping binds the aad; another master key does not unwrap.
    const aad = new TextEncoder().encode('x');
    const w = await raw!.wrap(randomBytes(32), aad);
    await expect(raw!.unwrap(w, new TextEncoder().encode('y'))).rejects.toThrow(/does not unwrap/);
    const other = await openKeyProvider({ env: { LOFLOW_MASTER_KEY: randomBytes(32).toString('base64') } });
    await expect(other!.unwrap(w, aad)).rejects.toThrow(/does not unwrap/);
    // Pseudonyms: 26 base32 characters, stable per key, different under another key, never the id.
    const p = await learnerPseudonym(raw!, 's-0042');
    expect(p).toMatch(/^[a-z2-7]{26}$/);
    expect(await learnerPseudonym(hex!, 's-0042')).toBe(p);
    expect(await learnerPseudonym(other!, 's-0042')).not.toBe(p);
  });

  it('ensureMasterKeyFile creates a 600 key file once', async () => {
    const f = join(tmp(), 'sub', 'master.key');
    expect(ensureMasterKeyFile(f)).toBe(true);
    const text = readFileSync(f, 'utf8');
    expect(ensureMasterKeyFile(f)).toBe(false);
    expect(readFileSync(f, 'utf8')).toBe(text);
    expect((await openKeyProvider({ masterKeyFile: f }))!.id).toMatch(/^local:/);
  });
});

async function storeContract(store: DekStore, dump: () => Promise<string>) {
  const provider = (await openKeyProvider({ env: { LOFLOW_MASTER_KEY: randomBytes(32).toString('base64') } }))!;
  const ring = new Keyring(provider, store, 'pl');
  const a = await learnerPseudonym(provider, 'alice');
  const b = await learnerPseudonym(provider, 'bob');
  const ka = await ring.get(`${a}:2026-11`);
  await ring.get(`${a}:2026-12`);
  await ring.get(`${b}:2026-11`);
  await ring.get('_other:2026-11');
  await store.sync?.();
  // First writer wins: a second keyring gets the same key, not a new one.
  const ring2 = new Keyring(provider, store, 'pl');
  expect(Buffer.from(await ring2.get(`${a}:2026-11`)).equals(Buffer.from(ka))).toBe(true);
  const other = await store.putIfAbsent(`${a}:2026-11`, { kek: 'x', wrapped: new Uint8Array([1, 2, 3]) });
  expect(other.kek).toBe(provider.id);
  expect(await store.kids(`${a}:`)).toEqual([`${a}:2026-11`, `${a}:2026-12`]);
  const before = await dump();
  const wrappedA = Buffer.from((await store.getWrapped(`${a}:2026-11`))!.wrapped).toString('base64');
  expect(before).toContain(wrappedA);
  expect(await eraseLearnerKeys(store, a)).toEqual([`${a}:2026-11`, `${a}:2026-12`]);
  expect(await eraseLearnerKeys(store, a)).toEqual([]); // idempotent
  expect(await store.getWrapped(`${a}:2026-11`)).toBeUndefined();
  expect(await new Keyring(provider, store, 'pl').find(`${a}:2026-11`)).toBeUndefined();
  const after = await dump();
  expect(after).not.toContain(wrappedA);
  expect(after).not.toContain(a);
  expect(await expireKeys(store, { before: '2026-12', scope: 'other' })).toEqual(['_other:2026-11']);
  expect(await expireKeys(store, { before: '2026-12', scope: 'learners' })).toEqual([`${b}:2026-11`]);
  expect(await store.kids()).toEqual([]);
  await expect(store.getWrapped('../etc/passwd')).rejects.toThrow(/not a data key id/);
  await expect(expireKeys(store, { before: '2026-13', scope: 'all' })).rejects.toThrow(/YYYY-MM/);
}

describe('data key stores', () => {
  it('file store: first writer wins, deletion leaves no bytes of the key in the folder', async () => {
    const d = tmp();
    const store = FileDekStore.forArchive(d);
    const dump = async () => readdirSync(store.dir).map((f) => f + readFileSync(join(store.dir, f), 'utf8')).join('\n');
    await storeContract(store, dump);
    expect(readdirSync(store.dir)).toEqual([]); // no temp files, no backups
  });

  it('Redis store: the hash lf:{<pipeline>}:dek', async () => {
    const pipeline = `k${Math.random().toString(36).slice(2, 8)}`;
    const store = await RedisDekStore.connect(inject('redisUrl'), pipeline);
    const r = new Redis(inject('redisUrl'));
    try {
      expect(store.key).toBe(`lf:{${pipeline}}:dek`);
      await storeContract(store, async () => JSON.stringify(await r.hgetall(store.key)));
      expect(await r.exists(store.key)).toBe(0);
    } finally {
      r.disconnect();
      await store.close();
    }
  });
});
