// One audit log line per admin action, done or refused, and its count.
import type { Logger } from '../log.js';
import type { Metrics } from '../ops/metrics.js';
import type { Principal } from './auth.js';

export function auditAction(
  deps: { logger: Logger; metrics: Metrics },
  who: { principal: Principal; clientIp: string },
  action: string,
  result: 'ok' | 'refused',
  detail: { target?: unknown; outcome?: unknown } = {},
): void {
  const { principal: p, clientIp } = who;
  deps.metrics.consoleAdminActions.inc({ action, result });
  deps.logger.info(
    { audit: true, actor: p.user, role: p.role, via: p.via, clientIp, action, result, ...detail },
    'console admin action',
  );
}
