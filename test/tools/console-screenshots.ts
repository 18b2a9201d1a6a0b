// Regenerates the README's console screenshots (docs/console-*.png) with the browser setup of the
// console tests: Debian chromium through playwright-core against a bridge, the JIMS simulator and
// a private Redis, with a little traffic so every view has something to show.
// Run: node --import tsx test/tools/console-screenshots.ts   (takes about a minute: the health
// charts need a few 5-second samples)
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { vpnLine, waitFor } from '../integration/e2e/harness.js';
import { ADMIN, launchChromium, startConsoleStack } from '../integration/console/fixture.js';

const OUT = 'docs';
const say = (s: string) => process.stdout.write(`${s}\n`);

mkdirSync(OUT, { recursive: true });
const stack = await startConsoleStack();
const browser = await launchChromium({ width: 960, height: 540 });
try {
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  const shot = async (name: string) => {
    const file = `${OUT}/console-${name}.png`;
    await page.screenshot({ path: file });
    // Fewer colours keep each PNG small (text stays sharp): `apt-get install pngquant`; skipped without it.
    try {
      execFileSync('pngquant', ['--force', '--output', file, '64', file]);
    } catch {
      say('(pngquant not found: PNG left as chromium wrote it)');
    }
    say(`${file} ${statSync(file).size} bytes`);
  };
  await page.goto(`${stack.base}/console/`);
  await page.getByLabel('User name').fill(ADMIN.name);
  await shot('login');
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#summary').waitFor();
  const users = ['erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];
  for (const [i, user] of users.entries())
    await stack.bridge.send([vpnLine({ kind: 'up', user, ip: `192.0.2.${60 + i}`, host: 'srx-edge-2' })]);
  await waitFor(async () => (await stack.bridge.metric('ptim_push_total', { outcome: 'delivered' })) >= 9, { what: 'pushes' });
  await page.reload();
  await page.locator('#summary').waitFor();
  // Decisions while the view is open: the live list fills from the SSE stream.
  await page.waitForTimeout(500);
  await stack.bridge.send([vpnLine({ kind: 'down', user: 'alice', ip: '192.0.2.21' })]);
  stack.bridge.clock.advance(10_000);
  await stack.bridge.send([vpnLine({ kind: 'up', user: 'grace', ip: '192.0.2.62', host: 'srx-edge-2' })]);
  await page.locator('ul.live li').nth(1).waitFor();
  await shot('sessions');

  await stack.bridge.send([vpnLine({ kind: 'up', user: 'bob', ip: '192.0.2.22', time: 'Mar  3 14:36:10' })]);
  await page.goto(`${stack.base}/console/ip/192.0.2.22`);
  await waitFor(async () => (await page.locator('ol.timeline li').count()) >= 6, {
    what: 'the timeline',
    timeoutMs: 15_000,
  }).catch(() => page.reload());
  await page.reload();
  await page.locator('ol.timeline li').first().waitFor();
  await shot('ip');

  await page.goto(`${stack.base}/console/patterns`);
  await page.locator('tbody tr').first().waitFor();
  await page
    .getByLabel('Syslog lines, one per line, as the firewall sends them')
    .fill(vpnLine({ kind: 'up', user: 'dave', ip: '192.0.2.40' }));
  await page.getByRole('button', { name: 'Explain' }).click();
  await page.locator('#explained article').first().waitFor();
  await page.locator('#pg').evaluate((el) => el.scrollIntoView());
  await shot('patterns');

  await stack.failOne('mallory', '192.0.2.99');
  await page.goto(`${stack.base}/console/queue`);
  await page.locator('tbody tr').first().waitFor();
  await shot('queue');

  // A minute of light traffic for the charts.
  for (let s = 0; s < 12; s++) {
    const lines = Array.from({ length: 5 + ((s * 7) % 11) }, (_, i) =>
      vpnLine({ kind: i % 3 ? 'up' : 'down', user: `u${s}-${i}`, ip: `198.18.${s}.${i + 1}` }),
    );
    await stack.bridge.send(lines);
    // The bridge runs on the tests' manual clock: move it with real time so the samples have rates.
    await new Promise((r) => setTimeout(r, 5000));
    stack.bridge.clock.advance(5000);
  }
  await page.goto(`${stack.base}/console/health`);
  await page.locator('.chart').first().waitFor();
  await shot('health');
} finally {
  await browser.close();
  await stack.stop();
}
