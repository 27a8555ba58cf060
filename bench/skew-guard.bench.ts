// @halfopen/skew-guard's check() against the bare timestamp comparison it replaces.
import { SkewGuard } from '@halfopen/skew-guard';
import { heapBytesPerItem, type Measurement, opsPerSec, type Scenario } from './harness.js';

const PEERS = 100_000;
const peers = Array.from({ length: PEERS }, (_, i) => `controller-${i}`);
const NOW = 1_700_000_000_000;

async function checks(): Promise<Measurement[]> {
  const g = new SkewGuard({
    maxPastMs: 300_000,
    maxFutureMs: 5_000,
    replayWindow: 64,
    maxPeers: PEERS,
    now: () => NOW,
  });
  for (const p of peers)
    g.observeRoundTrip(p, { t1: NOW, t2: NOW + 12, t3: NOW + 13, t4: NOW + 5 });
  const seqs = new Int32Array(PEERS);
  let i = 0;
  const guarded = await opsPerSec(() => {
    i = (i + 7919) % PEERS;
    g.check({ peer: peers[i]!, sentAt: NOW - 1000, seq: seqs[i]!++ });
  });
  // The memory floor of any per-peer check at this access pattern: one Map lookup and one
  // read + write of the peer's state line, random over 100k peers.
  const index = new Map(peers.map((p, k) => [p, k]));
  const line = new Float64Array(PEERS * 8);
  const floor = await opsPerSec(() => {
    i = (i + 7919) % PEERS;
    const slot = index.get(peers[i]!)!;
    line[slot * 8 + 1] = line[slot * 8]! + 1;
  });
  let ok = 0;
  const bare = await opsPerSec(() => {
    i = (i + 7919) % PEERS;
    const age = NOW - (NOW - 1000);
    if (age <= 300_000 && -age <= 5_000) ok++;
  });
  if (ok === 0) throw new Error('unreachable');
  const perPeer = await heapBytesPerItem((n) => {
    const h = new SkewGuard({
      maxPastMs: 300_000,
      maxFutureMs: 5_000,
      replayWindow: 64,
      maxPeers: n,
      now: () => NOW,
    });
    for (let k = 0; k < n; k++) {
      h.observeRoundTrip(peers[k]!, { t1: NOW, t2: NOW + 12, t3: NOW + 13, t4: NOW + 5 });
      h.check({ peer: peers[k]!, sentAt: NOW, seq: 1 });
    }
    return h;
  }, PEERS);
  return [
    {
      name: 'SkewGuard.check (replay window 64, offsets, 100k peers)',
      value: guarded,
      unit: 'checks/s',
    },
    { name: 'target', value: 5_000_000, unit: 'checks/s' },
    { name: 'floor: Map lookup + one state line', value: floor, unit: 'lookups/s' },
    { name: 'bare timestamp comparison', value: bare, unit: 'checks/s' },
    {
      name: 'memory per peer',
      value: perPeer,
      unit: 'bytes (state for offsets and a 64-bit window)',
    },
  ];
}

const scenarios: Scenario[] = [
  {
    name: 'skew-guard: check() across 100,000 peers vs the 5M checks/s target',
    ours: 'SkewGuard.check (replay window 64, offsets, 100k peers)',
    rival: 'target',
    higherIsBetter: true,
    target: 1,
    run: checks,
  },
];
export default scenarios;
