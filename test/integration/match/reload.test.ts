// Hot reload on real files: a valid edit replaces the library, a broken edit is refused with
// every problem logged and the running library stays. Waits on events, never on time.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import type { Library } from '../../../src/match/library.js';
import { createLibraryReloader, type LibraryReloader } from '../../../src/match/reload.js';
import { createMetrics } from '../../../src/ops/metrics.js';

const file = (id: string, user = 'alice') => `patterns:
  - id: ${id}
    description: test
    kind: up
    tags: [KMD_VPN_UP_ALARM_USER]
    match: [KMD_VPN_UP_ALARM_USER]
    regex: '^user=(?<user>[a-z]+)$'
    examples:
      - line: '<30>Mar  3 14:02:11 fw kmd[1]: KMD_VPN_UP_ALARM_USER: user=${user}'
        fields: { user: ${user} }
`;

function capture() {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      records.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { records, logger: createLogger({ level: 'info' }, stream) };
}

describe('pattern library reloader', () => {
  let dir = '';
  let reloader: LibraryReloader | undefined;
  afterEach(() => {
    reloader?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reload() installs a valid library and refuses a broken one, keeping the old', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ptim-patterns-'));
    writeFileSync(path.join(dir, '10-a.yaml'), file('first'));
    const metrics = createMetrics();
    const { records, logger } = capture();
    const installed: Library[] = [];
    reloader = createLibraryReloader({ dirs: [dir], watch: false, onLibrary: (l) => installed.push(l), logger, metrics });

    expect(await reloader.reload()).toBe(true);
    expect(installed.map((l) => l.patterns[0]!.id)).toEqual(['first']);

    writeFileSync(path.join(dir, '10-a.yaml'), file('first').replace('kind: up', 'kind: sideways').replace('regex:', 'regx:'));
    expect(await reloader.reload()).toBe(false);
    expect(installed).toHaveLength(1);
    const failed = records.find((r) => r.msg === 'pattern library reload failed; the running library stays');
    expect(failed?.code).toBe('PTIM_ERR_PATTERN');
    expect(failed?.problems).toEqual([expect.stringContaining('first.kind'), expect.stringContaining('first.regx: unknown key')]);

    const values = (await metrics.patternReloads.get()).values;
    expect(values.find((v) => v.labels.result === 'ok')?.value).toBe(1);
    expect(values.find((v) => v.labels.result === 'failed')?.value).toBe(1);
  });

  it('watches the directory and reloads after an edit', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ptim-patterns-'));
    writeFileSync(path.join(dir, '10-a.yaml'), file('before'));
    let resolve: (l: Library) => void = () => {};
    const next = new Promise<Library>((r) => (resolve = r));
    reloader = createLibraryReloader({
      dirs: [dir],
      watch: true,
      debounceMs: 20,
      onLibrary: resolve,
      logger: capture().logger,
      metrics: createMetrics(),
    });
    writeFileSync(path.join(dir, '10-a.yaml'), file('after', 'bob'));
    const lib = await next; // bounded by the test timeout
    expect(lib.patterns[0]!.id).toBe('after');
  });

  it('runs overlapping reload requests one at a time, the last one seeing the latest files', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ptim-patterns-'));
    writeFileSync(path.join(dir, '10-a.yaml'), file('one'));
    const installed: string[] = [];
    reloader = createLibraryReloader({
      dirs: [dir],
      watch: false,
      onLibrary: (l) => installed.push(l.patterns[0]!.id),
      logger: capture().logger,
      metrics: createMetrics(),
    });
    const a = reloader.reload();
    writeFileSync(path.join(dir, '10-a.yaml'), file('two'));
    const b = reloader.reload();
    const c = reloader.reload();
    expect(b).toBe(c);
    await Promise.all([a, b, c]);
    expect(installed.at(-1)).toBe('two');
    expect(installed.length).toBeLessThanOrEqual(2);
  });
});
