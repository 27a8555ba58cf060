// Issue 13, finding 5: each test failed on the guard before its fix (seen, and said how).
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { SkewGuard } from '../src/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapAfterGc = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const t = 1_700_000_000_000;
const now = () => t;
const YEAR = 365 * 24 * 3600 * 1000;

describe('only accepted messages change a peer’s state', () => {
  it('a stale or future message with a higher epoch neither advances the epoch nor resets the window', () => {
    // Before the fix the junk message set the peer's epoch to 99 and cleared its window: the
    // live connection's next message was refused as superseded and seq 5 could be replayed.
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: 32, now });
    expect(g.check({ peer: 'p', sentAt: t, seq: 5, epoch: 1 }).ok).toBe(true);
    expect(g.check({ peer: 'p', sentAt: t - 60_000, seq: 0, epoch: 99 })).toMatchObject({
      reason: 'stale',
    });
    expect(g.check({ peer: 'p', sentAt: t + 60_000, seq: 0, epoch: 100 })).toMatchObject({
      reason: 'future',
    });
    expect(g.check({ peer: 'p', sentAt: t, seq: 6, epoch: 1 }).ok).toBe(true);
    expect(g.check({ peer: 'p', sentAt: t, seq: 5, epoch: 1 })).toMatchObject({
      reason: 'replay',
    });
    // An accepted message on a newer connection does move the peer on.
    expect(g.check({ peer: 'p', sentAt: t, seq: 0, epoch: 2 }).ok).toBe(true);
    expect(g.check({ peer: 'p', sentAt: t, seq: 7, epoch: 1 })).toMatchObject({
      reason: 'superseded',
    });
  });
});

describe('replayWindow', () => {
  it('2**40 is refused at construction with a RangeError naming it, not thrown later by check()', () => {
    // Before the fix the constructor accepted it and the first check() threw "Invalid typed array length".
    expect(
      () => new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: 2 ** 40 }),
    ).toThrow(/options\.replayWindow/);
    expect(
      () => new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: 2 ** 40 }),
    ).toThrow(RangeError);
  });
});

describe('peer ids', () => {
  it('1,000 rejected messages with 64 KiB ids do not retain the ids (heap after gc)', () => {
    // Before the fix each id got a slot and was kept verbatim: about +65 MB retained here.
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: 64, now });
    const before = heapAfterGc();
    for (let i = 0; i < 1000; i++) {
      g.check({ peer: `${i}:`.padEnd(65_536, 'x'), sentAt: t - 60_000, seq: i });
    }
    const grown = heapAfterGc() - before;
    expect(grown).toBeLessThan(4 * 1024 * 1024);
    const r = g.report();
    expect(r.counts.invalid).toBe(1000);
    for (const x of r.recent) expect(x.peer.length).toBeLessThanOrEqual(100);
  });
});

describe('round-trip samples', () => {
  it('one sample with an absurd delay does not widen the bound until a year-old message is accepted', () => {
    // Before the fix the sample was kept (error half a year) and the year-old message accepted.
    const g = new SkewGuard({ maxPastMs: 30_000, maxFutureMs: 5_000, now });
    expect(g.observeRoundTrip('p', { t1: t - YEAR, t2: t - YEAR, t3: t - YEAR, t4: t })).toBe(
      false,
    );
    expect(g.offset('p')).toBeUndefined();
    expect(g.check({ peer: 'p', sentAt: t - YEAR })).toMatchObject({ ok: false, reason: 'stale' });
  });
});
