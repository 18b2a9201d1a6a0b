// Console credentials at rest: passwords as scrypt hashes (memory-hard, in Node's own crypto, so
// no native add-on), bearer tokens as SHA-256 (they are 256 random bits: a slow hash adds nothing
// and would cost every API call). `ptim-bridge hash-password` makes both; the config holds only hashes.
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** N = 2^15, r = 8, p = 1: about 32 MiB and tens of milliseconds per check (OWASP's scrypt floor is 2^17/8/1 for interactive use at 128 MiB; 2^15 keeps a login storm of operators cheap). */
export const SCRYPT_DEFAULTS = { N: 32768, r: 8, p: 1 } as const;
const KEY_BYTES = 32;

function scryptAsync(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_BYTES, { ...opts, maxmem: 256 * (opts.N ?? 0) * (opts.r ?? 8) }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(
  password: string,
  params: { N: number; r: number; p: number } = SCRYPT_DEFAULTS,
): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

export function parsePasswordHash(hash: string): ParsedHash | undefined {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  // N must be a power of two > 1; cap the cost so a hostile config cannot make a login eat the host.
  if (!(N > 1 && (N & (N - 1)) === 0 && N <= 2 ** 20 && r >= 1 && r <= 32 && p >= 1 && p <= 16)) return undefined;
  const salt = Buffer.from(parts[4]!, 'base64');
  const key = Buffer.from(parts[5]!, 'base64');
  if (salt.length < 8 || key.length < 16) return undefined;
  return { N, r, p, salt, key };
}

/** A hash of a password nobody has: unknown users cost the same time as known ones. */
let decoy: Promise<string> | undefined;

/** True when `password` matches `hash`; false for a wrong password, an unknown user (`hash` undefined) or a malformed hash. */
export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  const parsed = parsePasswordHash(hash ?? (await (decoy ??= hashPassword(randomBytes(16).toString('hex')))));
  if (!parsed) return false;
  const key = await scryptAsync(password, parsed.salt, { N: parsed.N, r: parsed.r, p: parsed.p });
  return hash !== undefined && key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
}

/** A new random bearer token (43 URL-safe characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return `sha256$${createHash('sha256').update(token, 'utf8').digest('hex')}`;
}

/** Constant-time comparison of a presented token with a stored `sha256$…` hash. */
export function tokenMatches(token: string, tokenHash: string): boolean {
  const a = Buffer.from(hashToken(token));
  const b = Buffer.from(tokenHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
