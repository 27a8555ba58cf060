// @halfopen/health's HTTP handler against the cheapest possible probe endpoint, a plain
// `res.end('ok')`: 1,000 probes at once over keep-alive connections, per-answer latency.
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Check, eventLoopCheck, Health, healthHandler, progress } from '@halfopen/health';
import { bestOf, type Measurement, opsPerSec, type Scenario } from './harness.js';

const CONCURRENT = 1000;
const ROUNDS = 5;

/** A Health as a service would have it: five checks with evidence, one of them failing. */
async function serviceHealth(): Promise<Health> {
  const h = new Health({ intervalMs: 60_000 });
  const consumer = progress({ stallMs: 5000, what: 'quotes pushed' });
  h.add('consumer', consumer.check)
    .add('event-loop', eventLoopCheck())
    .add('db', () => ({ state: 'healthy', reason: 'pool 8/16 in use', evidence: { inUse: 8 } }))
    .add('cache', () => ({ state: 'degraded', reason: 'hit rate 41%', evidence: { hit: 0.41 } }))
    .add('disk', (() => ({
      state: 'failing',
      reason: 'disk 97% full',
      evidence: { usedPercent: 97 },
    })) as Check);
  await h.runNow();
  return h;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

// The prober runs in a child process (its own core), as a load balancer would, over CONCURRENT
// keep-alive connections (opened by a first, uncounted round). 'burst': one probe on every
// connection at once, ROUNDS times (a probe storm). 'spread': every connection probes once a
// second at a random moment, for ROUNDS seconds (1,000 balancers probing every second). It
// prints p50/p99/max of the latency from request sent to body read.
const PROBER = `
import http from 'node:http';
const [port, concurrent, rounds] = process.argv.slice(1, 4).map(Number);
const mode = process.argv[4];
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrent });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const probe = () => new Promise((resolve, reject) => {
  const t = performance.now();
  http.get({ host: '127.0.0.1', port, path: '/readyz', agent }, (res) => {
    res.resume();
    res.on('end', () => resolve(performance.now() - t));
  }).on('error', reject);
});
await Promise.all(Array.from({ length: concurrent }, probe));
const samples = [];
if (mode === 'burst') {
  for (let round = 0; round < rounds; round++)
    samples.push(...(await Promise.all(Array.from({ length: concurrent }, probe))));
} else {
  await Promise.all(Array.from({ length: concurrent }, async () => {
    for (let round = 0; round < rounds; round++) {
      const wait = Math.random() * 1000;
      await sleep(wait);
      samples.push(await probe());
      await sleep(1000 - wait);
    }
  }));
}
agent.destroy();
samples.sort((a, b) => a - b);
const at = (p) => samples[Math.min(samples.length - 1, Math.floor((samples.length * p) / 100))];
console.log(JSON.stringify({ p50: at(50), p99: at(99), max: samples.at(-1) }));
`;

interface Latency {
  p50: number;
  p99: number;
  max: number;
  /** Time inside the handler per answer, p99, in microseconds. */
  handlerP99Us: number;
}

/** Per-answer latency of `handler` under CONCURRENT probes at once, from a separate process. */
async function probeLatency(
  handler: http.RequestListener,
  mode: 'burst' | 'spread',
): Promise<Latency> {
  const inside: number[] = [];
  const server = http.createServer((req, res) => {
    const t = performance.now();
    handler(req, res);
    inside.push(performance.now() - t);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 2048, r));
  const port = (server.address() as AddressInfo).port;
  try {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          PROBER,
          String(port),
          String(CONCURRENT),
          String(ROUNDS),
          mode,
        ],
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      );
    });
    inside.sort((a, b) => a - b);
    return { ...JSON.parse(out), handlerP99Us: percentile(inside, 99) * 1000 };
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

function concurrentProbes(mode: 'burst' | 'spread') {
  return async (): Promise<Measurement[]> => {
    const health = await serviceHealth();
    const ours = healthHandler(health);
    const plain: http.RequestListener = (_req, res) => res.end('ok');
    const out: Measurement[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const h = await probeLatency(ours, mode);
        const p = await probeLatency(plain, mode);
        out.push(
          { name: 'healthHandler p99', value: h.p99, unit: 'ms' },
          { name: "res.end('ok') p99", value: p.p99, unit: 'ms' },
          { name: 'healthHandler p50', value: h.p50, unit: 'ms' },
          { name: "res.end('ok') p50", value: p.p50, unit: 'ms' },
          { name: 'healthHandler max', value: h.max, unit: 'ms' },
          { name: 'inside healthHandler p99', value: h.handlerP99Us, unit: 'µs' },
          { name: "inside res.end('ok') p99", value: p.handlerP99Us, unit: 'µs' },
        );
      }
    } finally {
      health.close();
    }
    return bestOf(out, false);
  };
}

/** The cost of an answer inside the process: the cached report vs building the JSON per probe. */
async function reportCost(): Promise<Measurement[]> {
  const health = await serviceHealth();
  try {
    const out: Measurement[] = [];
    for (let i = 0; i < 2; i++) {
      out.push({
        name: 'report() (cached)',
        value: await opsPerSec(() => health.report()),
        unit: 'answers/s',
      });
      out.push({
        name: 'JSON per probe',
        value: await opsPerSec(() => JSON.stringify({ checks: health.checks() })),
        unit: 'answers/s',
      });
    }
    return bestOf(out);
  } finally {
    health.close();
  }
}

const scenarios: Scenario[] = [
  {
    name: 'health: 1,000 probers once a second each, per-answer latency p99',
    ours: 'healthHandler p99',
    rival: "res.end('ok') p99",
    higherIsBetter: false,
    target: 0.8,
    run: concurrentProbes('spread'),
  },
  {
    name: 'health: 1,000 probes at once (a storm), per-answer latency p99',
    ours: 'healthHandler p99',
    rival: "res.end('ok') p99",
    higherIsBetter: false,
    target: 0.8,
    run: concurrentProbes('burst'),
  },
  {
    name: 'health: building an answer (5 checks)',
    ours: 'report() (cached)',
    rival: 'JSON per probe',
    higherIsBetter: true,
    target: 1,
    run: reportCost,
  },
];
export default scenarios;
