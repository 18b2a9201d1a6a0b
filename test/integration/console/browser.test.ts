// The console in a real browser (Debian's headless chromium through playwright-core) against the
// assembled bridge: log in, search sessions, follow an IP's timeline, explain a line in the
// playground, retry a failed event as admin, and be refused as viewer.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vpnLine, waitFor } from '../e2e/harness.js';
import { ADMIN, launchChromium, startConsoleStack, VIEWER, type ConsoleStack } from './fixture.js';

let stack: ConsoleStack;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;

beforeAll(async () => {
  stack = await startConsoleStack();
  browser = await launchChromium();
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  page.setDefaultTimeout(15_000);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

async function logIn(user: { name: string; password: string }) {
  await page.goto(`${stack.base}/console/`);
  await page.waitForURL('**/console/login');
  await page.getByLabel('User name').fill(user.name);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#who').filter({ hasText: user.name }).waitFor();
}

describe('console in the browser', () => {
  it('refuses a wrong password, then logs in to the sessions view', async () => {
    await page.goto(`${stack.base}/console/sessions`);
    await page.waitForURL('**/console/login');
    await page.getByLabel('User name').fill(ADMIN.name);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Wrong user name or password');
    await logIn(ADMIN);
    expect(await page.locator('#who').textContent()).toBe('ada (admin)');
    await page.locator('#summary').filter({ hasText: '3 session(s)' }).waitFor();
  });

  it('shows decisions live (SSE) and marks the row of a session that ended', async () => {
    await page.goto(`${stack.base}/console/sessions`);
    await page.locator('#summary').filter({ hasText: '3 session(s)' }).waitFor();
    // The stream is open once the server said so (its `ready` event): no decision after it is missed.
    await page.locator('ul.live[data-state="open"]').waitFor({ state: 'attached' });
    await stack.bridge.send([vpnLine({ kind: 'down', user: 'alice', ip: '192.0.2.21' })]);
    await page.getByRole('list', { name: 'Latest decisions' }).getByText('192.0.2.21').waitFor();
    expect(await page.getByRole('list', { name: 'Latest decisions' }).textContent()).toContain('disconnect (alice) seq 2');
    await page.locator('tr.ended').filter({ hasText: '192.0.2.21' }).waitFor();
  });

  it('searches sessions by user', async () => {
    await page.goto(`${stack.base}/console/sessions`);
    await page.getByLabel('Search sessions').fill('bob');
    await page.getByLabel('In').selectOption('user');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('#summary').filter({ hasText: '1 match(es) for “bob”' }).waitFor();
    const rows = await page.locator('tbody tr').allTextContents();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain('192.0.2.22');
    expect(rows[0]).toContain('srx-edge-1');
  });

  it('follows an IP to its timeline: line → decision → push, one correlation id', async () => {
    await page.getByRole('link', { name: '192.0.2.22' }).click();
    await page.waitForURL('**/console/ip/192.0.2.22');
    const items = page.getByRole('list', { name: 'History of 192.0.2.22' }).locator('li');
    await waitFor(async () => (await items.count()) === 3, { what: 'three timeline entries' });
    const text = await items.allTextContents();
    expect(text[0]).toMatch(/Push connect seq 1: delivered/);
    expect(text[1]).toMatch(/Decision: connect bob, seq 1 → connect/);
    expect(text[2]).toMatch(/Line received: up bob from srx-edge-1/);
    const ids = await page.locator('ol.timeline code').allTextContents();
    expect(new Set(ids).size).toBe(1);
    expect(await page.locator('dl.kv').textContent()).toContain('bob@example.com');
  });

  it('explains pasted lines in the playground, as patterns explain does', async () => {
    await page.goto(`${stack.base}/console/patterns`);
    await page.locator('tbody tr').first().waitFor();
    await page
      .getByLabel('Syslog lines, one per line, as the firewall sends them')
      .fill(
        `${vpnLine({ kind: 'down', user: 'dave', ip: '192.0.2.40' })}\n<30>Mar  3 14:06:10 srx1 iked[1]: IKE_VPN_UP_ALARM_USER: garbage`,
      );
    await page.getByRole('button', { name: 'Explain' }).click();
    const results = page.locator('#explained article');
    await waitFor(async () => (await results.count()) === 2, { what: 'two explanations' });
    expect(await results.nth(0).textContent()).toMatch(/Matched .*Event: down dave@example.com on 192.0.2.40/);
    expect(await results.nth(1).textContent()).toMatch(/No match\. Closest pattern: /);
  });

  it('retries a failed event as admin', async () => {
    await stack.failOne('frank', '192.0.2.99');
    await page.goto(`${stack.base}/console/queue`);
    const row = page.locator('tbody tr').filter({ hasText: '192.0.2.99' });
    await row.waitFor();
    await row.getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Retry selected' }).click();
    await page.locator('#status').filter({ hasText: 'Retry: {"retried":[' }).waitFor();
    await waitFor(() => stack.jims.sim.identities()['192.0.2.99']?.user === 'frank', { what: 'frank delivered after the retry' });
  });

  it('refuses retry to a viewer: the buttons are off and the API says 403', async () => {
    await stack.failOne('gina', '192.0.2.98');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/console/login');
    await logIn(VIEWER);
    await page.goto(`${stack.base}/console/queue`);
    await page.locator('tbody tr').filter({ hasText: '192.0.2.98' }).waitFor();
    expect(await page.getByRole('button', { name: 'Retry selected' }).isDisabled()).toBe(true);
    expect(await page.locator('#admin-note').textContent()).toContain('admin role');
    // The pages' own request, sent anyway: the server refuses it.
    const status = await page.evaluate(async () => {
      const me = (await (await fetch('/console/api/me')).json()) as { csrf: string };
      const r = await fetch('/console/api/failed/retry', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf },
        body: JSON.stringify({ all: true }),
      });
      return r.status;
    });
    expect(status).toBe(403);
    expect(stack.jims.sim.identities()['192.0.2.98']).toBeUndefined();
  });
});
