// @halfopen/rearm: a storm of 1,000 changes arriving faster than a read round trip.
// Reads issued by the view vs a naive loop that re-reads on every event, and the time from
// the last change to convergence.
import { type OneShotWatchSource, rearm, type WatchEvent } from '@halfopen/rearm';
import type { Measurement, Scenario } from './harness.js';

const RTT_MS = 5;
const CHANGES = 1000;

function store() {
  let version = 0;
  let reads = 0;
  let watchers: Array<(e: WatchEvent) => void> = [];
  const persistent: Array<() => void> = [];
  const source: OneShotWatchSource<number, number> = {
    compare: (a, b) => a - b,
    read: async () => {
      reads++;
      await new Promise((r) => setTimeout(r, RTT_MS / 2));
      const v = version;
      const next = new Promise<WatchEvent>((res) => watchers.push(res));
      await new Promise((r) => setTimeout(r, RTT_MS / 2));
      return { value: v, version: v, next };
    },
  };
  const change = () => {
    version++;
    const w = watchers;
    watchers = [];
    for (const res of w) res({ kind: 'changed' });
    for (const fn of persistent) fn();
  };
  return {
    source,
    change,
    reads: () => reads,
    version: () => version,
    onEveryChange: (fn: () => void) => persistent.push(fn),
  };
}

/** One change per millisecond: five per read round trip. */
async function storm(change: () => void): Promise<number> {
  for (let i = 0; i < CHANGES; i++) {
    change();
    await new Promise((r) => setTimeout(r, 1));
  }
  return performance.now();
}

async function run(): Promise<Measurement[]> {
  // The view.
  const a = store();
  const view = rearm(a.source, { coalesceMs: 0 });
  await view.ready;
  const readsBefore = a.reads();
  const lastChange = await storm(a.change);
  while (view.current?.version !== a.version()) await new Promise((r) => setTimeout(r, 0.2));
  const converged = performance.now() - lastChange;
  const viewReads = a.reads() - readsBefore;
  view.close();

  // The naive consumer: an event per change (a persistent watch, an event stream), a read per event.
  const b = store();
  let latest = 0;
  b.onEveryChange(() => {
    void b.source.read(new AbortController().signal).then((r) => {
      latest = Math.max(latest, r.version);
    });
  });
  const naiveBefore = b.reads();
  const naiveLast = await storm(b.change);
  while (latest !== b.version()) await new Promise((r) => setTimeout(r, 0.2));
  const naiveConverged = performance.now() - naiveLast;
  const naiveReads = b.reads() - naiveBefore;
  return [
    { name: 'rearm view', value: viewReads, unit: `reads for ${CHANGES} changes` },
    { name: 'naive re-read per event', value: naiveReads, unit: `reads for ${CHANGES} changes` },
    {
      name: 'rearm view: last change to convergence',
      value: converged,
      unit: `ms (one read round trip = ${RTT_MS} ms)`,
    },
    { name: 'naive: last change to convergence', value: naiveConverged, unit: 'ms' },
  ];
}

const scenarios: Scenario[] = [
  {
    name: 'rearm: a storm of 1,000 changes faster than a read round trip',
    ours: 'rearm view',
    rival: 'naive re-read per event',
    higherIsBetter: false,
    target: 1,
    run,
  },
];
export default scenarios;
