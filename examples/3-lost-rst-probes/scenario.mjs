// Runs incident 3 twice on loopback, naive and guarded: probes that connect and never send
// (what a lost RST leaves behind) arrive while real clients send requests.
import net from 'node:net';
import { balanced } from './balanced.mjs';
import { request, workerPoolServer } from './server.mjs';

const WORKERS = 4;
const PROBES = 10 * WORKERS;
const REQUESTS = 20;

async function run(guarded, progress) {
  const { server, guard, stats } = workerPoolServer({
    workers: WORKERS,
    guarded,
    firstByteMs: 300,
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const probes = [];
  let served = 0;
  const start = Date.now();
  const series = [[0, 0]]; // [seconds, requests served]
  for (let i = 0; i < REQUESTS; i++) {
    // Two probes per request: they outnumber the workers within a few requests.
    for (let p = 0; p < PROBES / REQUESTS; p++)
      probes.push(net.connect(port, '127.0.0.1').on('error', () => {}));
    if (await request(port, 500)) served++;
    series.push([(Date.now() - start) / 1000, served]);
  }
  const elapsed = Date.now() - start;
  progress(
    `${guarded ? 'guarded' : 'naive'}: ${served}/${REQUESTS} requests served, ${probes.length} probes, ${elapsed} ms`,
  );
  for (const p of probes) p.destroy();
  guard?.dispose();
  server.close();
  return {
    served,
    cut: guard?.stats().destroyed['first-byte'] ?? 0,
    freed: stats.freed,
    series,
  };
}

export default {
  title: '3. Killed by health probes whose RSTs were lost',
  primitive: '@halfopen/idle-timeout guardServer({ firstByteMs })',
  metric: { label: 'real requests served of 20', unit: '', of: (r) => r.served, better: 'higher' },
  async run({ progress = () => {} } = {}) {
    const naive = await run(false, progress);
    const guarded = await run(true, progress);
    // Behind a load balancer: TCP-connect probes vs @halfopen/health readiness (balanced.mjs).
    const balancer = await balanced(progress);
    return {
      balancer,
      naive: {
        suffered: naive.served < REQUESTS / 2,
        summary: `${naive.served}/${REQUESTS} requests served; all ${WORKERS} workers stuck on silent probes`,
        ...naive,
      },
      guarded: {
        survived: guarded.served === REQUESTS,
        summary: `${guarded.served}/${REQUESTS} requests served; ${guarded.cut} silent probe connections cut after 300 ms`,
        ...guarded,
      },
    };
  },
};
