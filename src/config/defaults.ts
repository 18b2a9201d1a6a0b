// Defaults other modules compare against, apart from the schema so that a module that needs one
// (the receive thread's allow-list warning) does not load the schema library with it.

/** RFC 1918, unique-local and loopback: the default allow-list (with a start-up warning). */
export const DEFAULT_ALLOWED_SOURCES = [
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
] as const;
