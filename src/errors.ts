// Stable error codes. Each is listed with its meaning and remedy in the README ("Error codes").
// Add a code here, never inline, so the list and the docs cannot drift apart.

export const ERROR_CODES = {
  PTIM_ERR_CONFIG: 'The configuration file or environment overrides are invalid.',
  PTIM_ERR_CONFIG_FILE: 'The configuration file cannot be read or is not valid YAML.',
  PTIM_ERR_PATTERN: 'The pattern library has errors (load, compile, safety or example failures).',
  PTIM_ERR_TEMPLATE: 'A JIMS push template is invalid (unknown placeholder, unreadable file).',
  PTIM_ERR_SECRET: 'A secret file (client secret, TLS key) cannot be read.',
  PTIM_ERR_BIND: 'A listener could not bind its address/port.',
  PTIM_ERR_UDP_READER:
    'ingest.udp.reader is recvmmsg but batched UDP reads are unavailable (not Linux, or the addon was not built: npm run build:native, with a C compiler).',
  PTIM_ERR_REDIS_UNREACHABLE: 'Redis could not be reached at start.',
  PTIM_ERR_REDIS_EVICTION: 'Redis maxmemory-policy is not noeviction; queued events could be evicted.',
  PTIM_ERR_REDIS_VERSION: 'Redis is too old (7.0 or newer is needed).',
  PTIM_ERR_REDIS_REPLICA: 'The configured Redis is a replica; the bridge must write to a master.',
  PTIM_ERR_REDIS_CLUSTER:
    "Redis Cluster is misconfigured: a Cluster node without redis.cluster, or the keys' slot is not served.",
  PTIM_ERR_REDIS_SERVER_MISSING: 'The demo needs redis-server on PATH (or a redis.url).',
  PTIM_ERR_USAGE: 'The command line is invalid.',
  PTIM_ERR_JOURNAL: 'The session journal directory cannot be created, read or written.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One problem at a location, e.g. `config.yaml:12:3 jims.primary.port: expected number`. */
export interface Problem {
  /** File (or `env`), with optional line/column. */
  readonly source?: string;
  readonly line?: number;
  readonly column?: number;
  /** Dotted path of the field, or a pattern id and field. */
  readonly path?: string;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  let where = p.source ?? '';
  if (where && p.line) where += `:${p.line}${p.column ? `:${p.column}` : ''}`;
  const head = [where, p.path].filter(Boolean).join(' ');
  return head ? `${head}: ${p.message}` : p.message;
}

/** An error with a stable code and, for validation, every problem found (never just the first). */
export class PtimError extends Error {
  readonly code: ErrorCode;
  readonly problems: readonly Problem[];

  constructor(code: ErrorCode, message: string, problems: readonly Problem[] = []) {
    super(message);
    this.name = 'PtimError';
    this.code = code;
    this.problems = problems;
  }

  /**
   * One error for several (one start-up reports everything it found): the first code leads, and
   * each problem keeps the code it came with.
   */
  static combine(errors: readonly PtimError[]): PtimError {
    if (errors.length === 1) return errors[0]!;
    return new PtimError(
      errors[0]!.code,
      errors.map((e) => e.message).join('; '),
      errors.flatMap((e) =>
        e.problems.length
          ? e.problems.map((p) => ({ ...p, message: `${e.code}: ${p.message}` }))
          : [{ message: `${e.code}: ${e.message}` }],
      ),
    );
  }

  /** Multi-line, human-readable report: the code, the summary, then one line per problem. */
  report(): string {
    const lines = [`${this.code}: ${this.message}`];
    for (const p of this.problems) lines.push(`  - ${formatProblem(p)}`);
    return lines.join('\n');
  }
}
