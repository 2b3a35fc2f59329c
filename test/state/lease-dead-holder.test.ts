// A restart after a crash on the same host does not wait out the dead process's lease (it renews nothing):
// the lease names its holder `<host>-<pid>-<random>`, and a holder of this host whose pid is gone is taken
// over at once. A live holder, or a holder on another host, is waited for as before.
import { describe, expect, inject, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Lease } from '../../engine/state/lease.js';
import { leaseKey } from '../../engine/state/key-layout.js';

const root = join(import.meta.dirname, '../..');

/** A process that takes the lease of `tag` for 30 s, renews it, and says so. */
function holder(url: string, tag: string) {
  const code = `
    import { Redis } from 'ioredis';
    import { Lease } from ${JSON.stringify(join(root, 'dist/engine/state/lease.js'))};
    const lease = new Lease(new Redis(${JSON.stringify(url)}), ${JSON.stringify(tag)});
    const held = await lease.acquire();
    console.log('held ' + lease.owner + ' ' + held.epoch);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: root, env: { ...process.env, LOFLOW_LEASE_MS: '30000' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /held (\S+) 1/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (c) => reject(new Error(`holder exited (${c}): ${out}`)));
  });
  return { child, ready };
}

describe('a lease held by a dead process of this host', () => {
  it('is taken at once; a live holder and another host\'s holder are waited for', async () => {
    const url = inject('redisUrl');
    const redis = new Redis(url);
    const tag = `dead${Date.now().toString(36)}`;
    const h = holder(url, tag);
    try {
      const owner = await h.ready;
      // Alive: waited for (here up to 1 s), then refused, naming it.
      await expect(new Lease(redis, tag).acquire(1000)).rejects.toMatchObject({ code: 'LEASE_HELD', message: expect.stringContaining(owner) });
      const gone = new Promise((r) => h.child.once('exit', r));
      h.child.kill('SIGKILL');
      await gone;
      const t0 = Date.now();
      const held = await new Lease(redis, tag).acquire(1000); // its lease has ~28 s left
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(held.epoch).toBe(2);

      // Another host's holder, even with a pid that is not alive here: waited for.
      const other = `dead${Date.now().toString(36)}x`;
      await redis.hset(leaseKey(other), { owner: `some-other-host-${h.child.pid}-abcdef`, token: 't', epoch: 1, until: Date.now() + 30_000 });
      await expect(new Lease(redis, other).acquire(600)).rejects.toMatchObject({ code: 'LEASE_HELD' });
    } finally {
      h.child.kill('SIGKILL');
      redis.disconnect();
    }
  }, 30_000);
});
