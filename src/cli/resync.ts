// `ptim-bridge resync --rate N`: re-pushes every active session to JIMS (after JIMS restarted or
// lost its identity table). Each session goes through the session script as a `resync` input: a
// rekey with the IP's next seq lands in the outbox, and the running bridge's relay and push
// workers deliver it under the usual per-IP ordering rules. Streams the session index (constant
// memory) at `--rate` sessions per second; progress on stderr, counts at the end.
import type { Config } from '../config/schema.js';
import { PtimError } from '../errors.js';
import { createMetrics } from '../ops/metrics.js';
import { countSessions } from '../sessions/query.js';
import { resyncPass, type ResyncCounts, type Sleep } from '../sessions/resync.js';
import type { Clock } from '../types.js';
import { withRedis } from './admin.js';

type Out = NodeJS.WritableStream;

export interface ResyncCliOptions {
  /** Sessions (identity events) per second. */
  rate: number;
}

/** How often progress is printed. */
const PROGRESS_EVERY_MS = 1000;

const summary = (c: ResyncCounts, secs: number) =>
  `resync: ${c.pushed} session(s) re-pushed, ${c.skipped} ended meanwhile, ${c.errors} error(s) in ${secs.toFixed(1)} s ` +
  `(${secs > 0 ? Math.round(c.scanned / secs) : c.scanned}/s)\n`;

export async function runResync(
  config: Config,
  out: Out,
  err: Out,
  opts: ResyncCliOptions,
  deps: { clock: Clock; sleep?: Sleep },
): Promise<number> {
  if (!(Number.isFinite(opts.rate) && opts.rate > 0))
    throw new PtimError('PTIM_ERR_USAGE', '--rate must be a positive number (sessions per second)');
  const { clock } = deps;
  return withRedis(config, async (redis, _queues, shards) => {
    const active = await countSessions(redis, shards);
    err.write(`resync: ${active} active session(s) at ${opts.rate}/s\n`);
    const startedAt = clock.now();
    let reportedAt = startedAt;
    const counts: ResyncCounts = { scanned: 0, pushed: 0, skipped: 0, errors: 0 };
    // Shard after shard, each at the whole rate.
    for (const keyPrefix of shards.prefixes) {
      const before = { ...counts };
      const c = await resyncPass({
        redis,
        keyPrefix,
        cfg: config.sessions,
        metrics: createMetrics(),
        clock,
        kind: 'resync',
        ratePerSec: opts.rate,
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
        onProgress: (p) => {
          if (clock.now() - reportedAt < PROGRESS_EVERY_MS) return;
          reportedAt = clock.now();
          const [scanned, pushed, skipped] = [before.scanned + p.scanned, before.pushed + p.pushed, before.skipped + p.skipped];
          err.write(`resync: ${scanned}/${active} (${pushed} re-pushed, ${skipped} ended meanwhile)\n`);
        },
      });
      for (const k of ['scanned', 'pushed', 'skipped', 'errors'] as const) counts[k] += c[k];
    }
    out.write(summary(counts, (clock.now() - startedAt) / 1000));
    return counts.errors > 0 ? 1 : 0;
  });
}
