// @halfopen/keepalive's connect() against a raw net.connect, on loopback.
import net from 'node:net';
import { connect } from '@halfopen/keepalive';
import type { Measurement, Scenario } from './harness.js';

async function latency(): Promise<Measurement[]> {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.destroy();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', 4096, r));
  const port = (srv.address() as net.AddressInfo).port;
  const raw = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    });
  const ours = (keepAlive: boolean) => async () => {
    const s = await connect({
      port,
      host: '127.0.0.1',
      attemptTimeoutMs: 5000,
      timeoutMs: 10_000,
      ...(keepAlive
        ? { keepAlive: { idleMs: 15_000, intervalMs: 5_000, count: 3 }, userTimeoutMs: 30_000 }
        : { keepAlive: false }),
    });
    s.destroy();
  };
  // Interleaved one connect at a time: TIME_WAIT sockets pile up as the run goes on and make
  // every later connect slower, so each variant must see the same drift. The median, not the
  // mean: on a shared 2-core machine about 1% of connects of every variant (net.connect too)
  // wait 5-50 ms for a core, and those few decide a mean.
  const variants: Array<[string, () => Promise<void>]> = [
    ['net.connect', raw],
    ['connect (deadlines + keepalive + user timeout)', ours(true)],
    ['connect (deadlines only)', ours(false)],
  ];
  const samples = new Map<string, number[]>(variants.map(([n]) => [n, []]));
  const N = 3000;
  for (let k = -300; k < N; k++) {
    for (const [name, fn] of variants) {
      const t = performance.now();
      await fn();
      if (k >= 0) samples.get(name)!.push(performance.now() - t);
    }
  }
  srv.close();
  return variants.map(([name]) => {
    const sorted = samples.get(name)!.sort((a, b) => a - b);
    const mean = sorted.reduce((a, b) => a + b, 0) / N;
    return {
      name,
      value: sorted[N >> 1]! * 1000,
      unit: `µs per connect (median of 3,000, interleaved; mean ${(mean * 1000).toFixed(0)})`,
    };
  });
}

const scenarios: Scenario[] = [
  {
    name: 'keepalive: connect latency on loopback (lower is better)',
    ours: 'connect (deadlines + keepalive + user timeout)',
    rival: 'net.connect',
    higherIsBetter: false,
    target: 1 / 1.1, // at most 1.10x the latency of net.connect
    run: latency,
  },
];
export default scenarios;
