import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Import boundaries. Data flows one way: the pure stages (syslog parse, match, identity, the
// session model, the pipeline that strings them together) know nothing of sockets, Redis, the
// queue, JIMS, threads or the ops server; the adapters at the edges know nothing of the
// composition root; only app.ts, main.ts and the CLI compose. Type-only imports (a Metrics or a
// RedisClient type in a signature) cross freely: they leave nothing behind at run time.
const ADAPTERS = ['redis', 'queue', 'jims', 'jims-sim', 'ingest', 'console', 'ops', 'threads', 'history', 'replay', 'demo'];
const COMPOSITION_ROOT = ['**/app.js', '**/main.js', '**/cli/**'];

/** Files of the pure stages and the shared kernel. The match folder's background proof parts (a child process, a file watch, Redis) are adapters. */
const STAGES = [
  // The shared kernel every part uses: settings, types, errors, logging, events, address math.
  'src/config/**',
  'src/net/**',
  'src/types.ts',
  'src/log.ts',
  'src/log-parts.ts',
  'src/errors.ts',
  'src/events.ts',
  'src/syslog/**',
  'src/identity/**',
  'src/match/**',
  'src/sessions/model.ts',
  'src/pipeline.ts',
];
const MATCH_ADAPTERS = [
  'src/match/checker.ts',
  'src/match/prover.ts',
  'src/match/proofs.ts',
  'src/match/reload.ts',
  'src/match/verdict-redis.ts',
];

const restrict = (groups, message) => ({
  'no-restricted-imports': ['error', { patterns: [{ group: groups, message, allowTypeImports: true }] }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    // The install-time build of the native addon: a plain Node.js script that reports to npm's output.
    files: ['native/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: { 'no-console': 'off' },
  },
  {
    // The CLI and the benchmarks talk to a terminal on purpose.
    files: ['src/main.ts', 'src/cli/**', 'bench/**', 'test/tools/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Nothing in src/ imports the composition root but the composition root.
    files: ['src/**/*.ts'],
    ignores: ['src/app.ts', 'src/main.ts', 'src/cli/**'],
    rules: restrict(COMPOSITION_ROOT, 'only app.ts, main.ts and the CLI compose components; pass what is needed in'),
  },
  {
    files: STAGES,
    ignores: MATCH_ADAPTERS,
    rules: restrict(
      [
        ...COMPOSITION_ROOT,
        ...ADAPTERS.flatMap((a) => [`../${a}/**`, `./${a}/**`, `../../${a}/**`]),
        '**/sessions/*',
        '!**/sessions/model.js',
        '**/match/verdict-redis.js',
        '**/match/checker.js',
        '**/match/proofs.js',
        '**/match/prover.js',
        '**/match/reload.js',
      ],
      'a pipeline stage is pure: it takes data (and a clock, metrics, a logger) and never reaches an adapter',
    ),
  },
  {
    // One clock: time for decisions comes from the injected Clock; only the composition root and
    // the clock adapter (systemClock in types.ts) read the system time.
    files: ['src/**/*.ts'],
    ignores: ['src/app.ts', 'src/main.ts', 'src/cli/**', 'src/types.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'use the injected clock (deps.clock.now())' },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'use the injected clock (new Date(clock.now()))',
        },
      ],
    },
  },
);
