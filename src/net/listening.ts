// Binding a server or socket: resolves once it listens, rejects with the bind error (port in use,
// address not available). Errors after that are left to the owner's own 'error' handler.
import { once, type EventEmitter } from 'node:events';

export async function listening(target: EventEmitter, start: () => void): Promise<void> {
  const failed = once(target, 'error').then(([e]) => Promise.reject(e as Error));
  failed.catch(() => {}); // after the race, a later error must not become an unhandled rejection
  start();
  await Promise.race([once(target, 'listening'), failed]);
}
