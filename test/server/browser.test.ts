// The dashboard page in Debian's Chromium, driven by playwright-core (no browser download).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { demoServer, keystroke } from './server-fixture.js';


describe('dashboard page in a browser', () => {
  let s: Awaited<ReturnType<typeof demoServer>>;
  let browser: Browser;
  beforeAll(async () => {
    s = await demoServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('shows the teacher’s class and updates the numbers live as events arrive', async () => {
    const page = await browser.newPage();
    await page.goto(`${s.url}/?token=tok-ada`);
    // Before any event, Student 0 is listed apart as not yet seen (it used to be a row of dashes).
    await page.waitForSelector('#unseen li:text-is("Student 0")');
    expect(await page.locator('#class option').allTextContents()).toEqual(['class-a', 'class-b']);
    expect(await page.locator('tr[data-member="s-0000"]').count()).toBe(0);
    await s.post(JSON.stringify([keystroke('s-0000', 1000), keystroke('s-0000', 1100), keystroke('s-0000', 1200)]));
    await page.waitForFunction(() => document.querySelector('tr[data-member="s-0000"] td[data-col="events"]')?.textContent === '3');
    await s.post(JSON.stringify([keystroke('s-0000', 1300)]));
    await page.waitForFunction(() => document.querySelector('tr[data-member="s-0000"] td[data-col="events"]')?.textContent === '4');
    // Named from the roster; typing shows as "writing" (not just "active").
    expect(await page.locator('tr[data-member="s-0000"] th button.student').textContent()).toBe('Student 0');
    expect(await page.locator('tr[data-member="s-0000"] .flag').textContent()).toBe('writing');
    expect(await page.locator('tr[data-member="s-0000"] svg.spark polyline').count()).toBe(1);
    expect(await page.locator('#unseen li:text-is("Student 0")').count()).toBe(0);
    await page.screenshot({ path: join(tmpdir(), 'loflow-dashboard.png') });
  });
});
