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
  // every later connect slower, so each variant must see the same drift.
  const variants: Array<[string, () => Promise<void>]> = [
    ['net.connect', raw],
    ['connect (deadlines + keepalive + user timeout)', ours(true)],
    ['connect (deadlines only)', ours(false)],
  ];
  const total = new Map<string, number>(variants.map(([n]) => [n, 0]));
  const N = 3000;
  for (let k = -300; k < N; k++) {
    for (const [name, fn] of variants) {
      const t = performance.now();
      await fn();
      if (k >= 0) total.set(name, total.get(name)! + performance.now() - t);
    }
  }
  srv.close();
  return variants.map(([name]) => ({
    name,
    value: (total.get(name)! * 1000) / N,
    unit: 'µs per connect (mean of 3,000, interleaved)',
  }));
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
