// Settings that hold URLs, with the schemes each accepts: a wrong scheme (`http://` for Redis) is
// a configuration problem reported with its line, not a connection failure minutes later.

interface UrlSetting {
  readonly path: readonly string[];
  readonly schemes: readonly string[];
  /** Empty means "not set" (e.g. `demo` starts its own Redis). */
  readonly allowEmpty: boolean;
}

export const URL_SETTINGS: readonly UrlSetting[] = [{ path: ['redis', 'url'], schemes: ['redis:', 'rediss:'], allowEmpty: true }];

export interface UrlProblem {
  readonly path: readonly string[];
  readonly message: string;
}

const get = (o: unknown, path: readonly string[]): unknown =>
  path.reduce<unknown>((cur, k) => (cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined), o);

/** Problems with the URL settings of `cfg` (raw or parsed); non-strings are the schema's business. */
export function checkUrls(cfg: Record<string, unknown>): UrlProblem[] {
  const out: UrlProblem[] = [];
  for (const s of URL_SETTINGS) {
    const v = get(cfg, s.path);
    if (typeof v !== 'string' || (v === '' && s.allowEmpty)) continue;
    let scheme: string | undefined;
    try {
      scheme = new URL(v).protocol;
    } catch {
      out.push({ path: s.path, message: `not a URL: expected ${s.schemes.map((x) => `${x}//…`).join(' or ')}` });
      continue;
    }
    if (!s.schemes.includes(scheme))
      out.push({
        path: s.path,
        message: `scheme ${scheme}// is not supported: use ${s.schemes.map((x) => `${x}//`).join(' or ')}`,
      });
  }
  return out;
}
