// Scale-apart deployment: one process only receives syslog and decides (roles [ingest]), another
// only relays, pushes and sweeps ([relay, worker, sweeper]); Redis is all they share.
import { beforeAll, expect, it } from 'vitest';
import { e2eConfig, manualClock, useStack, vpnLine, waitFor, type Bridge } from './harness.js';

const stack = useStack();
let ingest: Bridge;
let delivery: Bridge;

beforeAll(async () => {
  const clock = manualClock();
  ingest = await stack.bridge(e2eConfig(stack.redis, undefined, { roles: ['ingest'] }), clock);
  delivery = await stack.bridge(e2eConfig(stack.redis, stack.jims.port, { roles: ['relay', 'worker', 'sweeper'] }), clock);
});

it('events received by the ingest process are pushed by the delivery process', async () => {
  expect(delivery.app.addresses().syslog).toEqual([]);
  await ingest.send([vpnLine({ kind: 'up', user: 'erin@example.com', ip: '192.0.2.80', tunnelId: 9001 })]);
  await waitFor(() => stack.jims.sim.identities()['192.0.2.80']?.user === 'erin', { what: 'the UP pushed by the other process' });

  await ingest.send([vpnLine({ kind: 'down', user: 'erin@example.com', ip: '192.0.2.80', tunnelId: 9001 })], 'tcp');
  await waitFor(() => stack.jims.sim.identities()['192.0.2.80'] === undefined, { what: 'the DOWN pushed by the other process' });

  // JIMS applies a push before its answer reaches the worker that counts it: wait for the count.
  await waitFor(async () => (await delivery.metric('ptim_push_total', { outcome: 'delivered' })) === 2, {
    what: 'both pushes counted as delivered',
  });
  expect(await ingest.metric('ptim_identity_events_total')).toBe(2);
  expect(await ingest.metric('ptim_push_total')).toBe(0);
  expect(await delivery.metric('ptim_outbox_relayed_total')).toBe(2);
});
