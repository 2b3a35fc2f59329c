// `serve --watch` as a real process, roster side: a student added to the roster CSV mid-term is picked up
// live (one report line), their events are no longer warned as unknown, their row shows on their class's
// dashboard (also on an open connection), and a teacher newly given a class can read it.
import { describe, expect, it } from 'vitest';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { sseMessages, until, watchedServe } from './watch-fixture.js';

describe('serve --watch, rosters', () => {
  it('reloads a changed roster CSV live: new students, classes and teachers', async () => {
    const w = await watchedServe('loflow-watch-roster-');
    const { roster, child, exited, url } = w;
    const abort = new AbortController();
    try {
      const ada = { authorization: 'Bearer demo-t-ada' };
      let ts = 1_000_000;
      const send = async (student: string) => {
        const res = await fetch(`${url}/v1/events`, { method: 'POST', body: JSON.stringify([{ event: 'keystroke', ts: (ts += 100), auth: { user_id: student }, doc_id: 'd1' }]) });
        expect(res.status).toBe(200);
        return (await res.json()) as { accepted: number; warnings: Array<{ reason: string }> };
      };
      const table = async (group: string, headers: Record<string, string> = ada) => {
        const res = await fetch(`${url}/v1/dashboards/overview/${group}`, { headers });
        return { status: res.status, body: (await res.json()) as any };
      };

      // An open connection to class-a that must see the new student without reconnecting.
      const messages = await sseMessages(`${url}/v1/dashboards/overview/class-a/events`, ada, abort.signal);
      await until(() => messages.length > 0);
      expect(messages[0].rows.some((r: any) => r.member === 's-0201')).toBe(false);

      // Before: the new student is unknown (warned, kept), their class does not exist, the new teacher has no token.
      const before = await send('s-0200');
      expect(before.accepted).toBe(1);
      expect(before.warnings.map((w) => w.reason)).toEqual([expect.stringContaining("unknown student 's-0200'")]);
      expect((await table('class-z')).status).toBe(404);
      expect((await table('class-y', { authorization: 'Bearer demo-t-zed' })).status).toBe(401);

      // A new class for t-ada, a new student in class-a, and a new teacher with a new class.
      appendFileSync(roster, 's-0200,class-z,t-ada,Student 200\ns-0201,class-a,t-ada,Student 201\ns-0202,class-y,t-zed,Student 202\n');
      await until(() => w.out().includes("loflow: watch: roster 'demo' reloaded (203 members, was 200); connections and state kept"));
      expect(w.out()).not.toContain('refused');

      // After: no warning; the event before the reload was kept and processed, so the count is 2.
      const after = await send('s-0200');
      expect(after.warnings).toEqual([]);
      expect((await send('s-0201')).warnings).toEqual([]);
      const z = await until(async () => {
        const t = await table('class-z');
        return t.body.rows?.find((r: any) => r.member === 's-0200')?.events === 2 ? t : undefined;
      });
      expect(z.status).toBe(200);
      expect(z.body.rows.map((r: any) => r.member)).toEqual(['s-0200']);
      expect(z.body.unknownMembers).toBe(0);
      const a = await until(async () => {
        const t = await table('class-a');
        return t.body.rows?.find((r: any) => r.member === 's-0201')?.events === 1 ? t : undefined;
      });
      expect(a.body.rows).toHaveLength(51);
      await until(() => messages.some((m) => m.type === 'delta' && m.rows.some((r: any) => r.member === 's-0201' && r.events === 1)));
      expect(messages.filter((m) => m.type === 'snapshot')).toHaveLength(1);

      // The listing shows the new classes to their teachers; the new teacher reads theirs (and only theirs).
      const list = async (token: string) => (await (await fetch(`${url}/v1/dashboards`, { headers: { authorization: `Bearer ${token}` } })).json()) as any;
      expect((await list('demo-t-ada')).dashboards[0].classes).toEqual(['class-a', 'class-b', 'class-z']);
      expect((await list('demo-t-zed')).dashboards[0].classes).toEqual(['class-y']);
      const zed = { authorization: 'Bearer demo-t-zed' };
      const y = await table('class-y', zed);
      expect(y.status).toBe(200);
      expect(y.body.rows.map((r: any) => r.member)).toEqual(['s-0202']);
      expect((await table('class-a', zed)).status).toBe(403);

      // A roster that no longer parses is refused with the reason; the running version goes on.
      writeFileSync(roster, readFileSync(roster, 'utf8').replace('student,class,teacher,name', 'student,klass,teacher,name'));
      await until(() => w.out().includes('does not compile; the running version is kept'));
      expect((await send('s-0202')).warnings).toEqual([]);
    } finally {
      abort.abort();
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
