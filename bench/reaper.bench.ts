// @halfopen/reaper's ConnectionMap against lru-cache (with ttl) and a plain Map.
import { ConnectionMap } from '@halfopen/reaper';
import { LRUCache } from 'lru-cache';
import { bestOf, heapBytesPerItem, type Measurement, opsPerSec, type Scenario } from './harness.js';

const N = 100_000;
const keys = Array.from(
  { length: N },
  (_, i) => `10.0.${(i >> 8) & 255}.${i & 255}:${9000 + (i % 7)}`,
);
const conn = { fd: 1 };

async function getWithTouch(): Promise<Measurement[]> {
  const map = new ConnectionMap<string, object>({ idleTimeoutMs: 300_000, evictOnClose: false });
  const lru = new LRUCache<string, object>({ max: N * 2, ttl: 300_000, updateAgeOnGet: true });
  const plain = new Map<string, object>();
  for (const k of keys) {
    map.set(k, conn);
    lru.set(k, conn);
    plain.set(k, conn);
  }
  let i = 0;
  const next = () => {
    i = (i + 7919) % N;
    return keys[i]!;
  };
  const out: Measurement[] = [];
  for (let round = 0; round < 2; round++) {
    out.push({
      name: 'ConnectionMap.get',
      value: await opsPerSec(() => map.get(next())),
      unit: 'gets/s',
    });
    out.push({
      name: 'lru-cache get (ttl, updateAgeOnGet)',
      value: await opsPerSec(() => lru.get(next())),
      unit: 'gets/s',
    });
    out.push({
      name: 'Map.get',
      value: await opsPerSec(() => plain.get(next())),
      unit: 'gets/s',
    });
  }
  await map.close();
  return bestOf(out);
}

/** 1,000,000 entries, 1% of them expired: time to reap them. */
async function reapOnePercent(): Promise<Measurement[]> {
  const M = 1_000_000;
  let t = 1000; // lru-cache treats a start time of 0 as 'no ttl'
  const now = () => t;
  const big = Array.from({ length: M }, (_, i) => `k${i}`);
  // ConnectionMap: the first 1% were last used long ago.
  const map = new ConnectionMap<string, object>({ idleTimeoutMs: 1000, evictOnClose: false, now });
  for (let i = 0; i < M; i++) {
    if (i === M / 100) t = 1900;
    map.set(big[i]!, conn);
  }
  t = 2500;
  let start = performance.now();
  const reaped = map.sweep();
  const ours = performance.now() - start;
  if (reaped !== M / 100) throw new Error(`reaped ${reaped}`);
  await map.close();
  // lru-cache: the same data, purgeStale() scans everything.
  t = 1000;
  const lru = new LRUCache<string, object>({ max: M, ttl: 1000, ttlResolution: 0, perf: { now } });
  for (let i = 0; i < M; i++) {
    if (i === M / 100) t = 1900;
    lru.set(big[i]!, conn);
  }
  t = 2500;
  start = performance.now();
  lru.purgeStale();
  const theirs = performance.now() - start;
  if (lru.size !== M - M / 100) throw new Error(`lru-cache kept ${lru.size}`);
  return [
    { name: 'ConnectionMap.sweep', value: ours, unit: 'ms for 10,000 expired of 1,000,000' },
    { name: 'lru-cache purgeStale', value: theirs, unit: 'ms for 10,000 expired of 1,000,000' },
  ];
}

async function memoryPerEntry(): Promise<Measurement[]> {
  const n = 200_000;
  const ks = Array.from({ length: n }, (_, i) => `m${i}`);
  const ours = await heapBytesPerItem((count) => {
    const map = new ConnectionMap<string, object>({
      idleTimeoutMs: 300_000,
      maxLifetimeMs: 3_600_000,
      evictOnClose: false,
    });
    for (let i = 0; i < count; i++) map.set(ks[i]!, conn);
    return map;
  }, n);
  const theirs = await heapBytesPerItem((count) => {
    const lru = new LRUCache<string, object>({ max: count, ttl: 300_000, updateAgeOnGet: true });
    for (let i = 0; i < count; i++) lru.set(ks[i]!, conn);
    return lru;
  }, n);
  const plain = await heapBytesPerItem((count) => {
    const m = new Map<string, object>();
    for (let i = 0; i < count; i++) m.set(ks[i]!, conn);
    return m;
  }, n);
  return [
    { name: 'ConnectionMap (idle + lifetime)', value: ours, unit: 'bytes/entry' },
    { name: 'lru-cache (ttl)', value: theirs, unit: 'bytes/entry' },
    { name: 'Map', value: plain, unit: 'bytes/entry' },
  ];
}

const scenarios: Scenario[] = [
  {
    name: 'reaper: get with touch, 100,000 entries',
    ours: 'ConnectionMap.get',
    rival: 'lru-cache get (ttl, updateAgeOnGet)',
    higherIsBetter: true,
    target: 1,
    run: getWithTouch,
  },
  {
    name: 'reaper: reap 1% expired out of 1,000,000 entries',
    ours: 'ConnectionMap.sweep',
    rival: 'lru-cache purgeStale',
    higherIsBetter: false,
    target: 20,
    run: reapOnePercent,
  },
  {
    name: 'reaper: heap bytes per entry, 200,000 entries (reported; no target)',
    ours: 'ConnectionMap (idle + lifetime)',
    rival: 'lru-cache (ttl)',
    higherIsBetter: false,
    target: 0,
    run: memoryPerEntry,
  },
];
export default scenarios;
