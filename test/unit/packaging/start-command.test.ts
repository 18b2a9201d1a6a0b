// The main thread's heap settings can only be given on node's command line, and glibc's arena count
// in its environment, so the shipped start commands (the image's entry point, `npm start`) carry them; the benches start the bridge with the
// same constants. This keeps the three from drifting apart.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVE_ENV, SERVE_NODE_FLAGS } from '../../../src/threads/heap.js';

const dockerfile = readFileSync('Dockerfile', 'utf8');
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };

describe('shipped start commands', () => {
  it('the image starts node with the heap flags', () => {
    const entry = JSON.parse(/^ENTRYPOINT (.+)$/m.exec(dockerfile)![1]!) as string[];
    expect(entry).toEqual(['node', ...SERVE_NODE_FLAGS, 'dist/main.js']);
  });

  it('the image sets the environment', () => {
    const env = Object.fromEntries([...dockerfile.matchAll(/^ENV (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(env).toMatchObject(SERVE_ENV);
  });

  it('npm start does the same', () => {
    const env = Object.entries(SERVE_ENV).map(([k, v]) => `${k}=${v}`);
    expect(pkg.scripts.start).toBe([...env, 'node', ...SERVE_NODE_FLAGS, 'dist/main.js', 'serve'].join(' '));
  });
});
