// The teacher's dashboard page in Chromium (playwright-core, Debian's browser): roster names, readable
// durations, totals across documents, sort and filter, students not yet seen apart, the student drill-down
// (live, keyboard, another teacher refused), and accessibility (table semantics, labels, focus, contrast,
// a polite rate-limited live region). LOFLOW_UPDATE_SCREENSHOT=1 rewrites docs/dashboard.png.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { demoServer, keystroke } from './server-fixture.js';
import { pageContrast } from './contrast.js';

const save = (user: string, doc: string, ts: number, s: string, ibi = 1) => ({ event: 'google_docs_save', ts, auth: { user_id: user }, doc_id: doc, bundles: [{ commands: [{ ty: 'is', ibi, s }] }] });
const visibility = (user: string, ts: number) => ({ event: 'visibility', ts, auth: { user_id: user } });
const T = Date.UTC(2026, 11, 2, 9, 0, 0); // event times: a class this morning

describe('teacher dashboard page', () => {
  let s: Awaited<ReturnType<typeof demoServer>>;
  let browser: Browser;
  let page: Page;
  const cell = (member: string, col: string) => page.locator(`tr[data-member="${member}"] td[data-col="${col}"]`);
  const order = () => page.locator('#rows tr').evaluateAll((trs) => trs.map((tr) => (tr as HTMLElement).dataset.member));

  beforeAll(async () => {
    s = await demoServer();
    // s-0000 writes two documents, goes away for 9.5 minutes and types again; s-0004 only opens pages lately
    // (on task, not typing); s-0008 types a little, then nothing for 11 minutes (idle); the other 47 students
    // of class-a send nothing.
    await s.post(JSON.stringify([
      save('s-0000', 'essay', T, 'The water cycle moves water around'),
      keystroke('s-0000', T + 1000), keystroke('s-0000', T + 1200),
      save('s-0000', 'notes', T + 30_000, 'evaporation condensation'),
      visibility('s-0004', T + 620_000), visibility('s-0004', T + 640_000), visibility('s-0004', T + 660_000),
      keystroke('s-0008', T), keystroke('s-0008', T + 500),
      visibility('s-0000', T + 600_000), keystroke('s-0000', T + 600_500), keystroke('s-0000', T + 665_000),
    ]));
    await s.engine.flush();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 680 } });
    await page.goto(`${s.url}/?token=tok-ada`);
    await page.waitForSelector('tr[data-member="s-0000"]');
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('names students from the roster, writes durations for people, and sums a student’s documents', async () => {
    expect(await page.locator('tr[data-member="s-0000"] th[scope="row"] button').textContent()).toBe('Student 0');
    // 0..30 s, then a 9.5 min gap (over idle_after 5m, not counted), then 600..665 s: 95 s on task.
    expect(await cell('s-0000', 'active_ms').textContent()).toBe('1 min 35 s');
    expect(await cell('s-0000', 'text_length').textContent()).toBe(String('The water cycle moves water around'.length + 'evaporation condensation'.length));
    expect(await cell('s-0000', 'words').textContent()).toBe('8');
    expect(await cell('s-0000', 'documents').textContent()).toBe('2');
    expect(await cell('s-0000', 'events').textContent()).toBe('7');
    // Nothing typed is not "active": s-0004 only opened pages; s-0008 stopped 11 minutes ago.
    expect(await cell('s-0004', 'state').textContent()).toBe('on task, not typing');
    expect(await cell('s-0008', 'state').textContent()).toBe('idle');
    expect(await cell('s-0000', 'state').textContent()).toBe('writing');
  });

  it('lists students not yet seen apart, not as rows of dashes', async () => {
    expect(await page.locator('#rows tr').count()).toBe(3);
    expect(await page.locator('#table-caption').textContent()).toBe('Students seen: 3');
    expect(await page.locator('#unseen-heading').textContent()).toBe('Not yet seen: 47');
    expect(await page.locator('#unseen li').first().textContent()).toBe('Student 12');
    expect(await page.locator('#unseen li:text-is("Student 0")').count()).toBe(0);
  });

  it('sorts by any column from the keyboard, with aria-sort on the sorted header only', async () => {
    expect(await order()).toEqual(['s-0000', 's-0004', 's-0008']); // by name
    const events = page.locator('th:has(button:text-is("Events"))');
    await events.locator('button').focus();
    await page.keyboard.press('Enter');
    expect(await events.getAttribute('aria-sort')).toBe('ascending');
    expect(await order()).toEqual(['s-0008', 's-0004', 's-0000']); // 2, 3, 7 events
    // Focus stays on the header button across the re-render, so Space toggles the same column.
    await page.keyboard.press('Space');
    expect(await events.getAttribute('aria-sort')).toBe('descending');
    expect(await order()).toEqual(['s-0000', 's-0004', 's-0008']);
    expect(await page.locator('thead th[aria-sort]').count()).toBe(1);
    const time = page.locator('th:has(button:text-is("Time on task"))');
    await time.locator('button').click();
    expect(await time.getAttribute('aria-sort')).toBe('ascending');
    expect(await events.getAttribute('aria-sort')).toBeNull();
    expect(await order()).toEqual(['s-0008', 's-0004', 's-0000']); // 0.5 s, 40 s, 95 s
    await page.locator('th:has(button:text-is("Student")) button').click();
  });

  it('filters by name and by state (labelled controls)', async () => {
    await page.getByLabel('Find a student').fill('student 8');
    expect(await order()).toEqual(['s-0008']);
    expect(await page.locator('#table-caption').textContent()).toBe('Students seen: 1 of 3 shown (filtered)');
    await page.getByLabel('Find a student').fill('');
    await page.getByLabel('Show').selectOption('idle');
    expect(await order()).toEqual(['s-0008']);
    await page.getByLabel('Show').selectOption('on-task');
    expect(await order()).toEqual(['s-0004']);
    await page.getByLabel('Show').selectOption('all');
    expect(await order()).toEqual(['s-0000', 's-0004', 's-0008']);
  });

  it('opens a student’s drill-down from the keyboard: their documents’ text, live, and recent activity', async () => {
    const button = page.locator('tr[data-member="s-0000"] button.student');
    await button.focus();
    await page.keyboard.press('Enter');
    const panel = page.locator('#drill');
    await panel.locator('pre[data-doc="essay"]').waitFor();
    expect(await button.getAttribute('aria-expanded')).toBe('true');
    // Focus moves to the panel's heading, which names the student; the panel is labelled by it.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('drill-heading');
    expect(await panel.locator('h2').textContent()).toBe('Student 0');
    expect(await panel.getAttribute('aria-labelledby')).toBe('drill-heading');
    expect(await panel.locator('pre[data-doc="essay"]').textContent()).toBe('The water cycle moves water around');
    expect(await panel.locator('pre[data-doc="notes"]').getAttribute('aria-label')).toBe('Text of notes');
    expect(await panel.locator('section[data-doc="essay"] .doc-facts').textContent()).toBe('6 words · 34 characters · 1 edits');
    // Recent activity: the newest burst (the key at +665 s), the two closed ones (2 keys, then 1), sessions.
    const activity = await panel.locator('ul.activity li').allTextContents();
    expect(activity[0]).toMatch(/^Latest typing burst: .+ to .+, 1 key$/);
    expect(activity.slice(1)).toEqual([
      'Keys typed: 4 in all; 0.2 words per minute over the last minute',
      'Bursts finished: 2, 1.5 keys on average, longest 2',
      expect.stringMatching(/^Sessions: 2; last event at /),
    ]);
    // Live: the student keeps writing and the text follows without reopening.
    await s.post(JSON.stringify([save('s-0000', 'essay', T + 666_000, ' and back.', 35)]));
    await page.waitForFunction(() => document.querySelector('#drill pre[data-doc="essay"]')?.textContent === 'The water cycle moves water around and back.');
    await page.waitForFunction(() => document.querySelector('tr[data-member="s-0000"] td[data-col="text_length"]')?.textContent === '68');
    await page.screenshot({ path: join(tmpdir(), 'loflow-dashboard-drill.png') });
    if (process.env.LOFLOW_UPDATE_SCREENSHOT === '1') {
      const file = join(import.meta.dirname, '../../docs/dashboard.png');
      await page.screenshot({ path: file });
      expect(statSync(file).size).toBeLessThan(300_000);
    }
    // Escape closes it and gives focus back to the student's button.
    await page.keyboard.press('Escape');
    expect(await panel.isHidden()).toBe(true);
    expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.focusKey)).toBe('open:s-0000');
    expect(await button.getAttribute('aria-expanded')).toBe('false');
  });

  it('is accessible: table semantics, labels, visible focus, contrast ≥ 4.5:1, a polite live region', async () => {
    expect(await page.locator('table#students caption').count()).toBe(1);
    expect(await page.locator('thead th').evaluateAll((ths) => ths.every((th) => th.getAttribute('scope') === 'col'))).toBe(true);
    expect(await page.locator('tbody th[scope="row"]').count()).toBe(3);
    for (const name of ['Teacher token', 'Class', 'Find a student', 'Show']) expect(await page.getByLabel(name, { exact: true }).count()).toBe(1);
    // Sort and drill-down controls are buttons (reachable by Tab), each with a name.
    expect(await page.getByRole('button', { name: 'Events' }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Student 4' }).count()).toBe(1);
    await page.getByLabel('Find a student').focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.focusKey)).toBe('sort:name');
    const outline = await page.evaluate(() => {
      const st = getComputedStyle(document.activeElement!);
      return { style: st.outlineStyle, width: parseFloat(st.outlineWidth) };
    });
    expect(outline.style).not.toBe('none');
    expect(outline.width).toBeGreaterThanOrEqual(2);
    const low = await page.evaluate(pageContrast, 4.5);
    expect(low).toEqual([]);
    // The check itself finds a low contrast when there is one: #999 on the page's #f6f7f9 is 2.66:1.
    await page.evaluate(() => document.querySelector('main')!.append(Object.assign(document.createElement('p'), { id: 'probe', textContent: 'probe', style: 'color:#999' })));
    expect((await page.evaluate(pageContrast, 4.5)).map((x) => [x.text, x.ratio])).toEqual([['probe', 2.66]]);
    await page.evaluate(() => document.getElementById('probe')!.remove());
    expect(await page.locator('[aria-live="polite"]#announce').count()).toBe(1);
    expect(await page.locator('#summary [aria-live], #rows [aria-live]').count()).toBe(0);
  });

  it('announces class changes politely, at most once per 15 s however many updates arrive', async () => {
    await page.evaluate(() => {
      (window as any).announcements = [];
      new MutationObserver(() => (window as any).announcements.push(document.getElementById('announce')!.textContent)).observe(document.getElementById('announce')!, { childList: true, characterData: true, subtree: true });
    });
    for (let i = 0; i < 6; i++) {
      await s.post(JSON.stringify([keystroke('s-0004', T + 667_000 + i * 100)]));
      await page.waitForFunction((n) => document.querySelector('tr[data-member="s-0004"] td[data-col="events"]')?.textContent === String(n), 4 + i);
    }
    const said: string[] = await page.evaluate(() => (window as any).announcements);
    expect(said.length).toBeLessThanOrEqual(1);
    await page.waitForFunction(() => (window as any).announcements.length === 1, undefined, { timeout: 20_000 });
    expect(await page.locator('#announce').textContent()).toMatch(/^class-a: 2 writing, 0 on task not typing, 1 idle, 47 not yet seen\.$/);
  }, 40_000);

  it('a teacher of another class sees only their classes and gets 403 for this student', async () => {
    const other = await browser.newPage();
    await other.goto(`${s.url}/?token=tok-bo`);
    await other.waitForFunction(() => document.querySelectorAll('#class option').length > 0);
    expect(await other.locator('#class option').allTextContents()).toEqual(['class-c']);
    const status = await other.evaluate(async () => (await fetch('/v1/dashboards/overview/class-a/students/s-0000', { headers: { authorization: 'Bearer tok-bo' } })).status);
    expect(status).toBe(403);
    const live = await other.evaluate(async () => (await fetch('/v1/dashboards/overview/class-a/students/s-0000/events?token=tok-bo')).status);
    expect(live).toBe(403);
    await other.close();
  });
});
