// @halfopen/lease-lock against async-mutex, the lock a Node user would pick instead.
import { LeaseLock } from '@halfopen/lease-lock';
import { Mutex } from 'async-mutex';
import { asyncOpsPerSec, bestOf, type Measurement, type Scenario } from './harness.js';

async function uncontended(): Promise<Measurement[]> {
  const lock = new LeaseLock({ name: 'bench' });
  const leased = new LeaseLock({ name: 'bench-leased', leaseMs: 60_000, warnAfterMs: 10_000 });
  const mutex = new Mutex();
  const out: Measurement[] = [];
  for (let round = 0; round < 2; round++) {
    out.push({
      name: 'LeaseLock',
      value: await asyncOpsPerSec(async () => (await lock.acquire()).release()),
      unit: 'acquire+release/s',
    });
    out.push({
      name: 'LeaseLock (lease + warn)',
      value: await asyncOpsPerSec(async () => (await leased.acquire()).release()),
      unit: 'acquire+release/s',
    });
    out.push({
      name: 'async-mutex',
      value: await asyncOpsPerSec(async () => (await mutex.acquire())()),
      unit: 'acquire+release/s',
    });
  }
  return bestOf(out);
}

/** `workers` loops each acquiring and releasing `rounds` times: every acquire waits for a handoff. */
async function contended(): Promise<Measurement[]> {
  const WORKERS = 8;
  const ROUNDS = 20_000;
  const run = async (acquire: () => Promise<() => void>) => {
    const t = performance.now();
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        for (let i = 0; i < ROUNDS; i++) {
          const release = await acquire();
          await Promise.resolve(); // hold across an await, as real critical sections do
          release();
        }
      }),
    );
    return (WORKERS * ROUNDS * 1000) / (performance.now() - t);
  };
  const lock = new LeaseLock({ name: 'bench' });
  const mutex = new Mutex();
  const out: Measurement[] = [];
  for (let round = 0; round < 3; round++) {
    out.push({
      name: 'LeaseLock',
      value: await run(async () => {
        const h = await lock.acquire();
        return () => h.release();
      }),
      unit: 'handoffs/s',
    });
    out.push({ name: 'async-mutex', value: await run(() => mutex.acquire()), unit: 'handoffs/s' });
  }
  return bestOf(out);
}

const scenarios: Scenario[] = [
  {
    name: 'lease-lock: uncontended acquire + release',
    ours: 'LeaseLock',
    rival: 'async-mutex',
    higherIsBetter: true,
    target: 1,
    run: uncontended,
  },
  {
    name: 'lease-lock: contended handoff, 8 workers',
    ours: 'LeaseLock',
    rival: 'async-mutex',
    higherIsBetter: true,
    target: 1,
    run: contended,
  },
];
export default scenarios;
