// The script token store on its own: hashes only, lookups of hostile values, live revoke, and a file
// broken after startup honouring no token (a revoke must never come undone).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenStore } from '../../engine/server/api-tokens.js';

const fresh = () => new TokenStore(join(mkdtempSync(join(tmpdir(), 'loflow-tokstore-')), 'tokens.json'));
const later = () => new Promise((r) => setTimeout(r, 1100)); // the store re-checks its file at most once a second

describe('TokenStore', () => {
  it('finds a token by its hash only, and nothing for hostile values', () => {
    const store = fresh();
    const { token, record } = store.create('t-ada', ['class-a']);
    expect(readFileSync(store.file, 'utf8')).not.toContain(token);
    expect(store.lookup(token)).toEqual({ id: record.id, teacher: 't-ada', classes: new Set(['class-a']) });
    for (const bad of [undefined, '', record.sha256, record.id, token + 'x', 'x'.repeat(100_000), '__proto__', 'constructor']) expect(store.lookup(bad)).toBeUndefined();
  });

  it('a second store on the same file (the server) sees a revoke within a second', async () => {
    const cli = fresh();
    const { token, record } = cli.create('t-bo', ['class-c']);
    const server = new TokenStore(cli.file);
    expect(server.lookup(token)?.teacher).toBe('t-bo');
    expect(cli.revoke(record.id)).toBe(true);
    await later();
    expect(server.lookup(token)).toBeUndefined();
  });

  it('a tokens file broken after startup honours no token', async () => {
    const store = fresh();
    const { token } = store.create('t-ada', ['class-a']);
    expect(store.lookup(token)).toBeDefined();
    writeFileSync(store.file, '{"tokens": [');
    await later();
    expect(store.lookup(token)).toBeUndefined();
  });
});
