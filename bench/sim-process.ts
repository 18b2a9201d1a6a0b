// The JIMS simulator in its own process, so a bench that measures the bridge's CPU does not
// count the simulator's. Driven over IPC by bench/per-event.ts (start → listening, count →
// count, stop → stopped); never run by hand.
import { createJimsSimulator, type JimsSimulator } from '../src/jims-sim/simulator.js';

let sim: JimsSimulator | undefined;
process.on('disconnect', () => process.exit(0));
process.on('message', (raw) => {
  const msg = raw as
    | { type: 'start'; clientId: string; clientSecret: string; push?: Record<string, unknown> }
    | { type: 'count' }
    | { type: 'stop' };
  void (async () => {
    if (msg.type === 'start') {
      sim = createJimsSimulator({ clients: [{ clientId: msg.clientId, clientSecret: msg.clientSecret }], push: msg.push });
      const { port } = await sim.listen(0, '127.0.0.1');
      process.send!({ type: 'listening', port });
    } else if (msg.type === 'count') {
      const c = sim?.counters();
      process.send!({ type: 'count', counters: c });
    } else {
      await sim?.close();
      process.send!({ type: 'stopped' });
    }
  })();
});
