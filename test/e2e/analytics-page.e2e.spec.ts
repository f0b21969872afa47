import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';
import { SeededHistory, seedHistory } from '../support/analytics-seed.js';
import { TestApp, startTestApp } from '../support/test-app.js';

const DAY = 86_400_000;
/** Debian's chromium (README: prerequisites); CHROMIUM_PATH overrides. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const USERS = [
  { id: 'alice', role: 'picker', agentKey: 'picking-assistant' },
  { id: 'bob', role: 'picker', agentKey: 'picking-assistant' },
  { id: 'carol', role: 'receiver', agentKey: 'receiving-assistant' },
];

/** The dashboard page in a real headless browser, on a phone-sized screen, against seeded rollups. */
describe('Analytics dashboard page (headless Chromium)', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let history: SeededHistory;
  const today = new Date(new Date().toISOString().slice(0, 10));
  const days = [0, 1, 2].map((back) => new Date(today.getTime() - (9 - back) * DAY));
  const key = (day: Date) => day.toISOString().slice(0, 10);

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's chromium (see README) or set CHROMIUM_PATH`);
    t = await startTestApp();
    base = `http://127.0.0.1:${await t.port()}`;
    history = await seedHistory(t.db, USERS, days, 11);
    expect(
      (
        await t
          .http()
          .post('/api/v1/chat/analytics/rollup')
          .set(t.auth('root', ['admin']))
          .expect(200)
      ).body.status,
    ).toBe('succeeded');
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('signs in with a pasted token and draws the seeded numbers on a phone-sized screen', async () => {
    const page = await browser.newPage();
    await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
    const failures: string[] = [];
    page.on('pageerror', (error) => failures.push(String(error)));
    page.on('console', (message) => {
      if (message.type() === 'error') failures.push(message.text());
    });

    const served = await page.goto(`${base}/analytics`, { waitUntil: 'networkidle0' });
    expect(served?.status()).toBe(200);
    expect(served?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.type('#token', t.token('root', ['admin']));
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('body[data-loaded=true]');
    expect(await page.evaluate('sessionStorage.length')).toBe(1);

    await page.select('#scope', 'global');
    await page.$eval('#from', (input, value) => ((input as unknown as { value: string }).value = value), key(days[0]!));
    await page.$eval('#to', (input, value) => ((input as unknown as { value: string }).value = value), key(days[2]!));
    await page.click('#filters button[type=submit]');
    await page.waitForFunction(`document.getElementById('status').textContent.includes('Everyone, ${key(days[0]!)}')`);

    const bars = await page.$$eval('[data-chart=messages] rect', (rects) =>
      rects.map((rect) => [rect.getAttribute('data-period'), Number(rect.getAttribute('data-value'))]),
    );
    const perDay = days.map(
      (day) => history.messages.filter((m) => m.timestamp >= day && m.timestamp.getTime() < day.getTime() + DAY).length,
    );
    expect(bars).toEqual(days.map((day, index) => [key(day), perDay[index]]));

    const active = await page.$$eval('[data-chart=active-users] rect', (rects) =>
      rects.map((rect) => Number(rect.getAttribute('data-value'))),
    );
    expect(active).toEqual(
      days.map(
        (day) =>
          new Set(history.messages.filter((m) => m.timestamp >= day && m.timestamp.getTime() < day.getTime() + DAY).map((m) => m.userId))
            .size,
      ),
    );

    const heat = await page.$$eval('[data-chart=heatmap] rect', (cells) => cells.map((cell) => Number(cell.getAttribute('data-value'))));
    expect(heat).toHaveLength(168);
    expect(heat.reduce((a, b) => a + b, 0)).toBe(history.messages.filter((m) => m.type === 'user').length);

    const p95 = await page.$$eval('[data-chart=response-time] circle[data-series=p95]', (dots) => dots.length);
    expect(p95).toBe(days.length);
    const tokens = await page.$$eval('[data-chart=tokens] rect', (rects) => rects.map((rect) => rect.getAttribute('data-label')).sort());
    expect(tokens).toEqual(['picking-assistant', 'receiving-assistant']);
    const totalCard = await page.$eval('[data-card=messages] .value', (node) => node.textContent);
    expect(Number(totalCard?.replace(/\D/g, ''))).toBe(history.messages.length);
    expect(await page.$$eval('#unanswered tbody tr', (rows) => rows.length)).toBeGreaterThan(0);
    expect(await page.$$eval('#topics tbody tr td', (cells) => cells[0]?.textContent)).toEqual(expect.any(String));
    expect(await page.$eval('#comments-panel', (panel) => (panel as unknown as { hidden: boolean }).hidden)).toBe(false);

    // Fits a phone: nothing wider than the screen.
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'analytics-dashboard-phone.png'), fullPage: true });
    expect(failures).toEqual([]);

    // A refused token sends the user back to sign in.
    await page.evaluate(`sessionStorage.setItem('wms-analytics-token', 'not-a-token')`);
    await page.click('#filters button[type=submit]');
    await page.waitForFunction(`!document.getElementById('sign-in').hidden`);
    await page.close();
  }, 60_000);

  it('shows a user their own figures only', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/analytics`);
    await page.type('#token', t.token('carol', ['receiver']));
    await page.click('#sign-in-form button[type=submit]');
    await page.waitForSelector('body[data-loaded=true]');
    expect(
      await page.$$eval('#scope option', (options) => options.map((option) => (option as unknown as { value: string }).value)),
    ).toEqual(['me']);
    expect(await page.$eval('#comments-panel', (panel) => (panel as unknown as { hidden: boolean }).hidden)).toBe(true);
    await page.close();
  }, 60_000);
});
