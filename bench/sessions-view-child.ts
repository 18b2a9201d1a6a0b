// Child of bench/sessions-view.ts: runs the `sessions` command's code path in a fresh process
// (output to a pipe the parent drains) and reports its peak RSS and time on stderr as JSON.
import { performance } from 'node:perf_hooks';
import { showSessions, type SessionsOptions } from '../src/cli/admin.js';
import { configSchema } from '../src/config/schema.js';

const [url, keyPrefix, optsJson] = process.argv.slice(2);
const config = configSchema.parse({ redis: { url, keyPrefix } });
const start = performance.now();
await showSessions(config, process.stdout, JSON.parse(optsJson ?? '{}') as SessionsOptions);
process.stderr.write(
  `${JSON.stringify({ ms: performance.now() - start, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`,
);
