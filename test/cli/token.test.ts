// Script tokens end to end with the real binary: `loflow token create` stores only a hash; a running
// `serve` honours the token's classes (and only the teacher's own), and `loflow token revoke` ends it live.
// `serve` refuses guessable demo tokens unless told it is a demo, and refuses half a sign-in configuration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveChild, until, type ServeChild } from '../hardening/serve-child.js';
import { bin, root, run } from './run-cli.js';

const pipeline = 'pipelines/writing-observer.yaml';

describe('loflow token and serve', () => {
  const data = mkdtempSync(join(tmpdir(), 'loflow-tokens-'));
  let s: ServeChild;
  let token: string;
  beforeAll(async () => {
    const created = await run('token', 'create', '--teacher', 't-ada', '--classes', 'class-a,class-c', '--note', 'gradebook sync', '--data', data);
    expect(created.code).toBe(0);
    token = created.stdout.trim();
    s = await serveChild(['--data', data]);
  }, 180_000);
  afterAll(async () => s?.stop());

  const get = (path: string, t: string) => fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${t}` } });

  it('stores only the hash of a token, in a file only its owner can read', () => {
    expect(token).toMatch(/^lft_[\w-]{43}$/);
    const file = join(data, 'tokens.json');
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(token);
    expect(JSON.parse(text).tokens[0]).toMatchObject({ teacher: 't-ada', classes: ['class-a', 'class-c'], note: 'gradebook sync' });
    expect(statSync(file).mode & 0o077).toBe(0);
  }, 180_000);

  it('reads only the classes in its scope that its teacher teaches', async () => {
    expect((await get('/v1/dashboards/overview/class-a', token)).status).toBe(200);
    const b = await get('/v1/dashboards/overview/class-b', token); // t-ada's class, not in the token's scope
    expect(b.status).toBe(403);
    expect((await b.json()).error).toMatch(/not for class 'class-b'/);
    expect((await get('/v1/dashboards/overview/class-c', token)).status).toBe(403); // in scope, t-bo's class
    expect((await (await get('/v1/dashboards', token)).json()).dashboards[0].classes).toEqual(['class-a']);
  }, 180_000);

  it('no demo tokens in serve by default', async () => {
    expect((await get('/v1/dashboards/overview/class-a', 'demo-t-ada')).status).toBe(401);
  }, 180_000);

  it('revoke ends the token on the running server', async () => {
    const listed = JSON.parse((await run('token', 'list', '--json', '--data', data)).stdout);
    expect(listed).toHaveLength(1);
    expect(listed[0].sha256).toBeUndefined();
    const revoked = await run('token', 'revoke', listed[0].id, '--data', data);
    expect(revoked.code).toBe(0);
    await until(async () => (await get('/v1/dashboards/overview/class-a', token)).status === 401, 5000);
    expect(JSON.parse((await run('token', 'list', '--json', '--data', data)).stdout)[0].revoked).toBeTruthy();
    expect((await run('token', 'revoke', listed[0].id, '--data', data)).code).toBe(1);
  }, 180_000);
});

describe('serve refuses unsafe settings', () => {
  it('--demo-tokens only with --demo', async () => {
    const r = await run('serve', pipeline, '--port', '0', '--demo-tokens');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/guessable.*refused unless this server is a demo \(add --demo\)/);
    const s = await serveChild(['--demo-tokens', '--demo']);
    try {
      expect((await fetch(`${s.url}/v1/dashboards/overview/class-a`, { headers: { authorization: 'Bearer demo-t-ada' } })).status).toBe(200);
    } finally {
      await s.stop();
    }
  }, 180_000);

  it('half a sign-in configuration, or plain http to another host, is refused', async () => {
    const half = await run('serve', pipeline, '--port', '0', '--oidc-issuer', 'https://accounts.google.com');
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/needs --oidc-client-id .*LOFLOW_OIDC_CLIENT_SECRET.*--public-url.*--oidc-domains/);
    const http = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const argv = [bin, 'serve', pipeline, '--port', '0', '--oidc-issuer', 'http://idp.example', '--oidc-client-id', 'x', '--public-url', 'https://a.example', '--oidc-domains', 'a.example'];
      execFile(process.execPath, argv, { cwd: root, env: { ...process.env, LOFLOW_OIDC_CLIENT_SECRET: 's' } }, (err, _out, stderr) => resolve({ code: err ? (err.code as number) : 0, stderr }));
    });
    expect(http.code).toBe(2);
    expect(http.stderr).toMatch(/--oidc-issuer must be https:\/\/ \(plain http only for localhost\)/);
  }, 180_000);
});
