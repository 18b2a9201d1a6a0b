// Image hygiene, checked statically (CI has no Docker engine): the Dockerfile builds offline
// (no `# syntax=` line, which makes BuildKit pull a frontend image from Docker Hub) and the
// image carries no checker payload it cannot run (recheck's JVM jar; there is no Java).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkerCommand } from '../../../src/match/checker.js';

const dockerfile = readFileSync('Dockerfile', 'utf8');

describe('Dockerfile hygiene', () => {
  it('has no `# syntax=` directive', () => {
    expect(dockerfile).not.toMatch(/^#\s*syntax\s*=/im);
  });

  it('removes recheck-jar before node_modules is copied into the image, and installs no Java', () => {
    const build = dockerfile.slice(0, dockerfile.indexOf('COPY --from=build /app/node_modules'));
    expect(build).toMatch(/^RUN .*npm prune .*&& rm -rf node_modules\/recheck-jar$/m);
    const instructions = dockerfile.split('\n').filter((l) => !l.startsWith('#'));
    expect(instructions.join('\n')).not.toMatch(/openjdk|jre|java/i);
  });

  it('the checker never runs the jar: native binary, else node', () => {
    const cmd = checkerCommand({});
    expect(cmd.join(' ')).not.toMatch(/java|\.jar/);
    expect(cmd[0] === process.execPath || cmd[1] === 'agent').toBe(true);
  });
});
