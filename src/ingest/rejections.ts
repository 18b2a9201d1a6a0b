// Counts and reports senders outside the allow-list, shared by all receivers: never silent, but
// never a log flood either (`ingest.droppedLogPerMinute`), and a bounded metric label set.
import { createEvents } from '../events.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Transport } from '../types.js';

/** Distinct `source` label values before further senders are counted as `other`. */
export const MAX_SOURCE_LABELS = 100;

export interface Rejections {
  /** A message (UDP) or connection (TCP/TLS) from `sourceIp` was refused. */
  reject(transport: Transport, sourceIp: string): void;
}

export function createRejections(deps: {
  metrics: Metrics;
  logger: Logger;
  droppedLogPerMinute: number;
  now: () => number;
}): Rejections {
  const labelled = new Set<string>();
  const emit = createEvents({ ...deps, logPerMinute: { syslog_not_allowed: deps.droppedLogPerMinute } });
  return {
    reject(transport, sourceIp) {
      let label = sourceIp;
      if (!labelled.has(sourceIp)) {
        if (labelled.size < MAX_SOURCE_LABELS) labelled.add(sourceIp);
        else label = 'other';
      }
      deps.metrics.rejectedSources.inc({ source: label });
      emit('syslog_not_allowed', { labels: { transport }, source: sourceIp });
    },
  };
}
