// The files a configuration makes the bridge read at start (certificates, keys, CA bundles,
// secrets), checked when the configuration is loaded so a missing or unreadable file is
// reported with every other problem, with its line, before any slow step. The check itself is
// injected (no I/O here); `readableFile` is the real one.
import { accessSync, constants, statSync } from 'node:fs';

interface FileSetting {
  /** Dotted path of the setting. */
  readonly path: readonly string[];
  /** The setting is read only when this holds for the configuration (raw or parsed). */
  readonly when?: (cfg: Record<string, unknown>) => boolean;
}

const get = (o: unknown, path: readonly string[]): unknown =>
  path.reduce<unknown>((cur, k) => (cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined), o);

const tlsEnabled = (cfg: Record<string, unknown>) => get(cfg, ['ingest', 'tls', 'enabled']) === true;
const opsTlsEnabled = (cfg: Record<string, unknown>) => get(cfg, ['ops', 'tls', 'enabled']) === true;

/** Every setting that names a file the bridge reads. Add new ones here. */
export const FILE_SETTINGS: readonly FileSetting[] = [
  { path: ['ingest', 'tls', 'certFile'], when: tlsEnabled },
  { path: ['ingest', 'tls', 'keyFile'], when: tlsEnabled },
  { path: ['ingest', 'tls', 'clientCaFile'], when: tlsEnabled },
  ...(['primary', 'secondary'] as const).flatMap((server) => [
    { path: ['jims', server, 'caFile'] },
    { path: ['jims', server, 'clientSecretFile'] },
  ]),
  { path: ['ops', 'tls', 'certFile'], when: opsTlsEnabled },
  { path: ['ops', 'tls', 'keyFile'], when: opsTlsEnabled },
  { path: ['redis', 'passwordFile'] },
  { path: ['redis', 'sentinel', 'passwordFile'] },
  { path: ['redis', 'tls', 'caFile'] },
  { path: ['redis', 'tls', 'certFile'] },
  { path: ['redis', 'tls', 'keyFile'] },
];

export interface FileProblem {
  readonly path: readonly string[];
  readonly message: string;
}

/** Problems with the files `cfg` names; `check` says what is wrong with one file, if anything. */
export function checkFiles(cfg: Record<string, unknown>, check: (file: string) => string | undefined): FileProblem[] {
  const out: FileProblem[] = [];
  for (const s of FILE_SETTINGS) {
    const file = get(cfg, s.path);
    if (typeof file !== 'string' || file === '' || (s.when && !s.when(cfg))) continue;
    const message = check(file);
    if (message !== undefined) out.push({ path: s.path, message });
  }
  return out;
}

/** The real check: the file exists, is a file and this process may read it. */
export function readableFile(file: string): string | undefined {
  try {
    if (!statSync(file).isFile()) return `not a file: ${file}`;
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `file not found: ${file}`;
    if (code === 'EACCES') return `file not readable by this process: ${file}`;
    return `cannot read ${file}: ${(e as Error).message}`;
  }
}
