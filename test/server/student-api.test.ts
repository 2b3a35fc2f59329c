// The drill-down API on a real server and engine: one student's documents (with their text), row and recent
// bursts, live over SSE, only for a teacher of the student's class, whatever the id looks like.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, CURRENT } from '../../engine/audit/audit-log.js';
import { demoServer, keystroke } from './server-fixture.js';

const save = (user: string, doc: string, ts: number, commands: unknown[]) => ({ event: 'google_docs_save', ts, auth: { user_id: user }, doc_id: doc, bundles: [{ commands }] });
const base = '/v1/dashboards/overview/class-a/students';

/** Reads SSE `data:` messages from a fetch response, one at a time. */
function sseReader(res: Response) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  return {
    async next(): Promise<any> {
      for (;;) {
        const i = buf.indexOf('\n\n');
        if (i >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) return JSON.parse(data.slice(6));
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}

describe('student drill-down API', () => {
  let s: Awaited<ReturnType<typeof demoServer>>;
  beforeAll(async () => {
    s = await demoServer({ limits: { maxDrillDowns: 2 } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('lists a class’s students with their roster names, for its teacher only', async () => {
    const res = await s.get(base, 'tok-ada');
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.students[0]).toEqual({ member: 's-0000', name: 'Student 0' });
    expect(body.students.every((st: { member: string }) => ['0', '4', '8', '2', '6'].includes(st.member.at(-1)!))).toBe(true);
    expect((await s.get(base, 'tok-bo')).status).toBe(403);
    expect((await s.get(base)).status).toBe(401);
  });

  it('shows each document’s text and the totals across documents', async () => {
    await s.post(JSON.stringify([
      save('s-0000', 'essay', 1000, [{ ty: 'is', ibi: 1, s: 'Dogs are loyal' }]),
      save('s-0000', 'notes', 2000, [{ ty: 'is', ibi: 1, s: 'buy milk' }]),
      keystroke('s-0000', 3000), keystroke('s-0000', 3100), keystroke('s-0000', 9000), // a 5.9 s pause closes a burst of 2
      save('s-0004', 'essay', 2000, [{ ty: 'is', ibi: 1, s: 'Cats' }]),
    ]));
    await s.engine.flush();
    const res = await s.get(`${base}/s-0000`, 'tok-ada');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store'); // student text is not cached on the way
    const d = await res.json();
    expect(d.name).toBe('Student 0');
    expect(d.documents.map((x: any) => [x.id, x.text, x.view.length])).toEqual([['essay', 'Dogs are loyal', 14], ['notes', 'buy milk', 8]]);
    expect(d.row).toMatchObject({ member: 's-0000', text_length: 22, words: 5, documents: 2, events: 5 });
    // The student's own views: the burst of two keys closed by the pause, the newest one still open.
    expect(d.reducers.burst_stats).toMatchObject({ count: 1, max: 2 });
    expect(d.reducers.bursts.open).toEqual({ window_start: 9000, window_end: 9000, count: 1 });
    expect(d.reducers.time_on_task).toMatchObject({ last_seen: 9000 });
    // Another student's document is not in this one's drill-down.
    expect(JSON.stringify(d)).not.toContain('Cats');
    // The class table carries no text: only the drill-down does.
    const table = await (await s.get('/v1/dashboards/overview/class-a', 'tok-ada')).json();
    expect(JSON.stringify(table)).not.toContain('Dogs are loyal');
  });

  it('serves the page’s own script modules and nothing else by that route', async () => {
    for (const f of ['app', 'table', 'drill', 'format', 'dom']) {
      const res = await s.get(`/${f}.js`);
      expect([f, res.status, res.headers.get('content-type')]).toEqual([f, 200, 'text/javascript; charset=utf-8']);
    }
    for (const p of ['/nope.js', '/..%2Fpackage.js', '/index.html.js', '/APP.js', '/__proto__.js', '/constructor.js']) expect([p, (await s.get(p)).status]).toEqual([p, 404]);
  });

  it('refuses other teachers, other classes and odd ids with clear statuses', async () => {
    const cases: Array<[string, string | undefined, number]> = [
      [`${base}/s-0000`, undefined, 401],
      [`${base}/s-0000`, 'not-a-token', 401],
      [`${base}/s-0000`, 'tok-bo', 403], // t-bo teaches class-c, not class-a
      ['/v1/dashboards/overview/class-c/students/s-0000', 'tok-bo', 404], // t-bo's class, but not this student
      ['/v1/dashboards/overview/class-b/students/s-0000', 'tok-ada', 404], // t-ada's other class: s-0000 is not in it
      ['/v1/dashboards/overview/class-zz/students/s-0000', 'tok-ada', 404],
      ['/v1/dashboards/nope/class-a/students/s-0000', 'tok-ada', 404],
      [`${base}/__proto__`, 'tok-ada', 404],
      [`${base}/constructor`, 'tok-ada', 404],
      [`${base}/s-0000%7Cessay`, 'tok-ada', 404], // a state key is not a student
      [`${base}/..%2F..%2Fetc%2Fpasswd`, 'tok-ada', 404],
      [`${base}/s-0000%00`, 'tok-ada', 404],
      [`${base}/${'x'.repeat(300)}`, 'tok-ada', 400],
      [`${base}/%E0%A4%A`, 'tok-ada', 400], // bad percent-encoding: hapi refuses it
    ];
    for (const [path, token, code] of cases) {
      const res = await s.get(path, token);
      expect([path, res.status]).toEqual([path, code]);
      expect(typeof (await res.json()).error === 'string' || code === 400).toBe(true);
      const live = await s.get(`${path}/events`, token);
      expect([`${path}/events`, live.status]).toEqual([`${path}/events`, code]);
      await live.body?.cancel();
    }
  });

  it('pushes the detail live when the student writes, and bounds open drill-downs', async () => {
    const res = await fetch(`${s.url}${base}/s-0008/events?token=tok-ada`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const sse = sseReader(res);
    const first = await sse.next();
    expect(first).toMatchObject({ type: 'student', member: 's-0008', name: 'Student 8', documents: [] });
    await s.post(JSON.stringify([save('s-0008', 'story', 5000, [{ ty: 'is', ibi: 1, s: 'Once upon a time' }])]));
    let next = await sse.next();
    expect(next.documents[0]).toMatchObject({ id: 'story', text: 'Once upon a time' });
    await s.post(JSON.stringify([save('s-0008', 'story', 6000, [{ ty: 'is', ibi: 17, s: ' there was' }])]));
    next = await sse.next();
    expect(next.documents[0].text).toBe('Once upon a time there was');
    expect(next.row.text_length).toBe(26);

    // A second drill-down (another student).
    const second = await fetch(`${s.url}${base}/s-0004/events?token=tok-ada`);
    expect(second.status).toBe(200);
    // Two open (the bound in this test): the third is refused, not queued.
    const third = await fetch(`${s.url}${base}/s-0012/events?token=tok-ada`);
    expect(third.status).toBe(503);
    expect((await third.json()).error).toMatch(/too many open drill-downs/);
    expect(await (await s.get('/metrics')).text()).toContain('loflow_requests_refused_total{kind="drilldown",reason="full"} 1');
    await second.body?.cancel();
    await sse.cancel();
    // Closed ones free their place.
    await new Promise((r) => setTimeout(r, 200));
    const again = await fetch(`${s.url}${base}/s-0012/events?token=tok-ada`);
    expect(again.status).toBe(200);
    await again.body?.cancel();
  });
});

describe('student drill-down audit', () => {
  it('records every drill-down read, allowed or refused, with the student as a pseudonym only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loflow-drill-audit-'));
    const s = await demoServer({ audit: new AuditLog(dir) });
    try {
      expect((await s.get(`${base}/s-0004`, 'tok-ada')).status).toBe(200);
      expect((await s.get(`${base}/s-0004`, 'tok-bo')).status).toBe(403);
      const live = await s.get(`${base}/s-0008/events`, 'tok-ada');
      expect(live.status).toBe(200);
      await live.body?.cancel();
      const text = readFileSync(join(dir, CURRENT), 'utf8');
      const reads = text.trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.action === 'student.read');
      expect(reads.map((r) => [r.actor, r.result, r.target.class])).toEqual([
        ['teacher:t-ada', 'ok', 'class-a'],
        ['teacher:t-bo', 'denied', 'class-a'],
        ['teacher:t-ada', 'ok', 'class-a'],
      ]);
      expect(reads[0].target.student).toMatch(/^p:[0-9a-f]{24}$/);
      expect(reads[1].target.student).toBe(reads[0].target.student); // the same student, the same pseudonym
      expect(reads[2].target.student).not.toBe(reads[0].target.student);
      expect(text).not.toContain('s-0004');
      expect(text).not.toContain('s-0008');
    } finally {
      await s.close();
    }
  });
});
