// Incident 2 twice: the push service of server.mjs consumes 300 quotes; quote 50 takes the path
// that forgets the lock, and one of two subscribers stops reading (its window goes to zero).
import net from 'node:net';
import { balanced } from './balanced.mjs';
import { pushService } from './server.mjs';

const QUOTES = 300;
const RARE = 50; // the quote that takes the forgetful path
const LIMIT_MS = 3000; // the demo stops watching a frozen consumer after this

async function run(guarded, progress) {
  const svc = pushService({ guarded, forgets: (i) => i === RARE });
  await new Promise((r) => svc.server.listen(0, '127.0.0.1', r));
  const port = svc.server.address().port;
  // A healthy app and one that stopped reading.
  const healthy = net.connect(port, '127.0.0.1');
  let received = 0;
  healthy.on('data', (d) => (received += d.length));
  const stuck = net.connect(port, '127.0.0.1');
  stuck.on('error', () => {});
  await Promise.all([healthy, stuck].map((s) => new Promise((r) => s.once('connect', r))));
  stuck.pause();
  while (svc.subscribers.size < 2) await new Promise((r) => setTimeout(r, 5));
  const [, stuckSide] = svc.subscribers; // the server's end of the stopped reader

  const start = Date.now();
  const series = [[0, 0]]; // [seconds, quotes pushed]
  const sampler = setInterval(
    () => series.push([(Date.now() - start) / 1000, svc.stats.pushed]),
    50,
  );
  for (let i = 0; i < QUOTES && Date.now() - start < LIMIT_MS; i++) {
    // A wedged consumer waits here until the demo's limit.
    await Promise.race([svc.consume(i), new Promise((r) => setTimeout(r, LIMIT_MS))]);
    await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setTimeout(r, 700));
  clearInterval(sampler);
  series.push([(Date.now() - start) / 1000, svc.stats.pushed]);
  const { pushed } = svc.stats;
  const stuckCut = stuckSide.destroyed;
  const stuckBuffered = stuckCut ? 0 : stuckSide.writableLength;
  progress(
    `${guarded ? 'guarded' : 'naive'}: ${pushed}/${QUOTES} quotes pushed; stuck subscriber ${stuckCut ? 'cut (write stall)' : `holds ${Math.round(stuckBuffered / 1024)} KiB in our buffers`}`,
  );
  for (const s of [healthy, stuck, ...svc.subscribers]) s.destroy();
  await new Promise((r) => svc.server.close(r));
  return { pushed, received, stuckCut, stuckBuffered, series };
}

export default {
  title: '2. A lock that was never released, and a reader that stopped',
  primitive:
    '@halfopen/lease-lock (leaseMs, warnAfterMs) + @halfopen/idle-timeout guardSocket({ writeStallMs })',
  metric: { label: 'quotes pushed of 300', unit: '', of: (r) => r.pushed, better: 'higher' },
  async run({ progress = () => {} } = {}) {
    const naive = await run(false, progress);
    const guarded = await run(true, progress);
    // Behind a load balancer: TCP-connect probes vs @halfopen/health readiness (balanced.mjs).
    const balancer = await balanced(progress);
    return {
      balancer,
      naive: {
        suffered: naive.pushed <= RARE + 1 && !naive.stuckCut,
        summary: `consumer froze after quote ${naive.pushed - 1} of ${QUOTES} and stayed frozen; the stopped reader was never cut`,
        ...naive,
      },
      guarded: {
        survived: guarded.pushed === QUOTES && guarded.stuckCut,
        summary: `all ${QUOTES} quotes pushed (the forgotten lock expired after its 200 ms lease); the stopped reader was cut on write stall`,
        ...guarded,
      },
    };
  },
};
