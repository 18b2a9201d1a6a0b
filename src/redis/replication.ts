// Replica acknowledgement: a write the bridge relies on (a session event applied, a push about to
// be attempted) counts only once `replicas` replicas have it. Redis replicates asynchronously, so
// after a Sentinel or Cluster failover the writes the old master took but never passed on are
// gone; worse, a demoted master keeps accepting writes until the sentinels reconfigure it. WAIT
// turns both into an ordinary transient failure: the caller retries, and the retry reaches the
// new master. `awaitReplicas` runs right after the write on the same client, with a keyed no-op
// first so that in a Cluster the WAIT reaches the node that holds the keys; only when
// `replicasToAck` is above 0 (Sentinel and Cluster by default).
import { Cluster, type ChainableCommander } from 'ioredis';
import type { RedisClient } from './connection.js';

export interface ReplicaAck {
  /** Replicas that must acknowledge; 0 turns the check off. */
  readonly replicas: number;
  readonly timeoutMs: number;
}

export const NO_REPLICA_ACK: ReplicaAck = { replicas: 0, timeoutMs: 0 };

/** How long a Redis reply may take (plus any replica wait) before the call counts as failed and is retried. */
export const REPLY_TIMEOUT_MS = 10_000;

/** Thrown (and treated as transient) when fewer replicas than required acknowledged a write. */
export class ReplicaAckError extends Error {
  constructor(
    readonly acked: number,
    readonly wanted: number,
  ) {
    super(`NOREPLICAS ${acked} of ${wanted} replica(s) acknowledged the write (failover in progress or replica down)`);
    this.name = 'ReplicaAckError';
  }
}

/** Queues WAIT as the pipeline's last command when acknowledgement is required. */
function queueReplicaWait(p: ChainableCommander, ack: ReplicaAck): void {
  if (ack.replicas > 0) p.call('WAIT', ack.replicas, ack.timeoutMs);
}

/**
 * Splits the pipeline's results into the caller's own and checks the WAIT reply (when queued).
 * Throws ReplicaAckError on a shortfall, or WAIT's own error (e.g. a lost connection).
 */
function checkReplicaWait<T>(results: T[], ack: ReplicaAck): T[] {
  if (ack.replicas === 0) return results;
  const last = results[results.length - 1] as unknown as [Error | null, unknown] | undefined;
  if (!last) throw new ReplicaAckError(0, ack.replicas);
  const [err, reply] = last;
  if (err) throw err;
  const acked = Number(reply);
  if (acked < ack.replicas) throw new ReplicaAckError(acked, ack.replicas);
  return results.slice(0, -1);
}

/** The acknowledgement the settings ask for: `replicasToAck`, else 1 on Sentinel/Cluster and 0 standalone. */
export function replicaAckOf(cfg: {
  replicasToAck?: number | undefined;
  replicaAckTimeoutMs: number;
  sentinel?: unknown;
  cluster?: unknown;
}): ReplicaAck {
  const replicas = cfg.replicasToAck ?? (cfg.sentinel || cfg.cluster ? 1 : 0);
  return { replicas, timeoutMs: cfg.replicaAckTimeoutMs };
}

/**
 * A Redis reply that never comes is a failure like any other: during a Cluster failover ioredis
 * can hold a redirected pipeline indefinitely. Rejects after `ms` (the caller retries; the
 * session script's idempotence makes a batch that did apply harmless to re-send).
 */
export function withReplyTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`TRYAGAIN no reply from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

type Results = [Error | null, unknown][];

/**
 * Runs a pipeline that ends with WAIT (queueReplicaWait) and returns the caller's own results.
 * In a Cluster a keyless WAIT answers from whatever node the pipeline went to, so ioredis does not
 * follow a MOVED for the pipeline: the slot map is refreshed here and the call fails transiently,
 * so the retry reaches the new master.
 */
async function execReplicated(client: RedisClient, p: ChainableCommander, ack: ReplicaAck, timeoutMs: number): Promise<Results> {
  const results = ((await withReplyTimeout(p.exec(), timeoutMs)) ?? []) as Results;
  if (ack.replicas > 0 && client instanceof Cluster) {
    const moved = results.find(([err]) => err && /^(MOVED|ASK)\b/.test(err.message));
    if (moved) {
      client.refreshSlotsCache();
      throw moved[0];
    }
  }
  return checkReplicaWait(results, ack);
}

/**
 * Waits until `ack.replicas` replicas have every write this client made before (WAIT), with a
 * keyed no-op first so that in a Cluster the WAIT reaches the node that holds `anchorKey`.
 */
export async function awaitReplicas(client: RedisClient, anchorKey: string, ack: ReplicaAck, timeoutMs: number): Promise<void> {
  if (ack.replicas === 0) return;
  const p = client.pipeline().exists(anchorKey);
  queueReplicaWait(p, ack);
  await execReplicated(client, p, ack, timeoutMs);
}
