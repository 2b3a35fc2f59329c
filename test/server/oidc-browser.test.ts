// A teacher signs in through a real OpenID provider in Chromium: sees their class on the dashboard page,
// is refused another class, logs out, and the old session cookie is worth nothing afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { signInServers } from './oidc-fixture.js';


describe('teacher sign-in in a browser', () => {
  let s: Awaited<ReturnType<typeof signInServers>>;
  let browser: Browser;
  beforeAll(async () => {
    s = await signInServers();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('signs in, sees their class, gets 403 for another, logs out; the old cookie is refused', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${s.url}/`);
    // Not signed in: the header offers sign-in.
    await page.click('#signed-in a');
    // The provider's own sign-in page, then its consent page.
    await page.waitForURL(`${s.provider.issuer}/**`);
    await page.fill('input[name=login]', 'ada');
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
    await page.waitForSelector('button:has-text("Continue")');
    await page.click('button:has-text("Continue")');
    // Back on the dashboard, signed in, with the teacher's classes and students.
    await page.waitForURL(`${s.url}/`);
    await page.waitForSelector('#signed-in .teacher');
    expect(await page.locator('#signed-in .teacher').textContent()).toBe('t-ada (ada@school.example)');
    // (No student has sent anything: the class's students are listed as not yet seen, not as rows.)
    await page.waitForSelector('#unseen li:text-is("Student 0")');
    expect(await page.locator('#class option').allTextContents()).toEqual(['class-a', 'class-b']);
    const other = await page.evaluate(async () => (await fetch('/v1/dashboards/overview/class-c')).status);
    expect(other).toBe(403);
    await page.screenshot({ path: join(tmpdir(), 'loflow-signed-in.png') });

    const session = (await context.cookies()).find((c) => c.name === 'loflow-session')!;
    expect(session.httpOnly).toBe(true);
    expect(session.sameSite).toBe('Lax');
    expect(session.expires).toBeGreaterThan(Date.now() / 1000);
    const old = `loflow-session=${session.value}`;
    expect((await s.get('/v1/dashboards/overview/class-a', old)).status).toBe(200);

    await page.click('#log-out');
    await page.waitForSelector('#signed-in a');
    expect((await context.cookies()).some((c) => c.name === 'loflow-session')).toBe(false);
    expect(await page.evaluate(async () => (await fetch('/v1/dashboards/overview/class-a')).status)).toBe(401);
    // The cookie copied before logging out is dead on the server too.
    expect((await s.get('/v1/dashboards/overview/class-a', old)).status).toBe(401);
    expect((await s.get('/auth/me', old)).status).toBe(401);
    await context.close();
  }, 120_000);
});
