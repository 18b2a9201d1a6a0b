// Pattern reload through the whole bridge: the library is loaded in the matcher thread and its
// prefilter literals must reach the receive thread, or lines of a new pattern would still be
// dropped as noise before the matcher ever saw them.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SHIPPED_PATTERNS_DIR } from '../../../src/cli/demo.js';
import { e2eConfig, tableOf, useStack, vpnLine, waitFor, waitReceived, type Bridge } from './harness.js';

const stack = useStack();
let bridge: Bridge;
let dir = '';

/** The shipped iked patterns under new tags: a firewall whose messages the library did not know. */
const renamed = (text: string) =>
  text
    .replaceAll('IKE_VPN_UP_ALARM_USER', 'IKE_VPN_XUP_ALARM_USER')
    .replaceAll('IKE_VPN_DOWN_ALARM_USER', 'IKE_VPN_XDOWN_ALARM_USER')
    .replace(/^(\s*- id: )/gm, '$1x-');
const line = (user: string, ip: string) => renamed(vpnLine({ kind: 'up', user, ip }));

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'ptim-reload-'));
  cpSync(SHIPPED_PATTERNS_DIR, dir, { recursive: true });
  bridge = await stack.bridge(e2eConfig(stack.redis, stack.jims.port, { patterns: { dirs: [dir], watch: false } }));
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const users = () => [...tableOf(stack.jims.sim).values()].map((v) => v.user);

it('a reload reaches the receive thread (prefilter) and the matcher (library)', async () => {
  await bridge.send([line('xavier', '10.9.0.1')]);
  await waitReceived(bridge, 1);
  await bridge.applied();
  expect(await bridge.metric('ptim_prefilter_total', { result: 'skipped' })).toBe(1);

  writeFileSync(path.join(dir, '60-renamed.yaml'), renamed(readFileSync(path.join(dir, '10-iked.yaml'), 'utf8')));
  expect(await bridge.app.reloadPatterns()).toBe(true);
  expect(await bridge.metric('ptim_pattern_reloads_total', { result: 'ok' })).toBe(1);

  await bridge.send([line('xena', '10.9.0.2')]);
  await waitReceived(bridge, 2);
  await bridge.applied();
  await waitFor(() => users().includes('xena'), { what: 'the new pattern’s line delivered' });
  expect(await bridge.metric('ptim_pattern_matched_total', { pattern: 'x-iked-vpn-up' })).toBe(1);
  expect(users()).not.toContain('xavier');
  // The receive thread reads its sockets' kernel drops (Linux); the series exists from the start.
  if (process.platform === 'linux') expect(await bridge.metric('ptim_syslog_kernel_drops_total', { transport: 'udp' })).toBe(0);
}, 180_000);
