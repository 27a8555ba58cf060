import diagnostics from 'node:diagnostics_channel';
import {
  hostileOptions,
  hostileValue,
  isOptionError,
  type Misbehaviour,
  misbehave,
  misbehaviour,
} from '@halfopen/testkit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionEpochs, MAX_PEER_ID_LENGTH, SkewGuard } from '../src/index.js';

// Arbitrary options, hostile message fields (NaN timestamps, huge ids, negative epochs),
// misbehaving clocks, epoch trackers and onSupersede callbacks. The only acceptable outcomes:
// a TypeError/RangeError naming the option at construction, or the documented behaviour
// (every message judged, never thrown; only accepted messages change a peer's state).

const NOW = 1_700_000_000_000;
const REASONS = ['ok', 'invalid', 'stale', 'future', 'replay', 'superseded'];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

const peerId = fc.oneof(
  fc.constantFrom('a', 'b'),
  fc.string({ maxLength: 4 }),
  fc.integer({ min: MAX_PEER_ID_LENGTH - 1, max: 70_000 }).map((n) => 'p'.repeat(n)),
  hostileValue(),
);
const message = fc.oneof(
  hostileValue(),
  fc.record(
    {
      peer: peerId,
      sentAt: fc.oneof(
        hostileValue(),
        fc.integer({ min: -5000, max: 5000 }).map((d) => NOW + d),
      ),
      seq: fc.oneof(hostileValue(), fc.nat({ max: 200 })),
      epoch: fc.oneof(hostileValue(), fc.integer({ min: -3, max: 5 })),
    },
    { requiredKeys: [] },
  ),
);

/** Every option of SkewGuard, with values that pass, so the checks after the first are reached. */
const validOptions = {
  maxPastMs: fc.nat({ max: 10_000 }),
  maxFutureMs: fc.nat({ max: 10_000 }),
  replayWindow: fc.nat({ max: 1024 }),
  maxPeers: fc.integer({ min: 1, max: 1000 }),
  offsetSamples: fc.integer({ min: 1, max: 255 }),
  maxRoundTripMs: fc.nat({ max: 10_000 }),
  epochs: fc.constant(new ConnectionEpochs()),
  now: fc.constant(() => NOW),
};

describe('SkewGuard under hostile input (hostile)', () => {
  it('new SkewGuard(arbitrary options) judges messages or throws an error naming the option', () => {
    fc.assert(
      fc.property(
        hostileOptions(Object.keys(validOptions), validOptions),
        fc.array(message, { maxLength: 8 }),
        (options, msgs) => {
          let g: SkewGuard;
          try {
            g = new SkewGuard(options as never);
          } catch (error) {
            expect(isOptionError(error, 'options')).toBe(true);
            return;
          }
          for (const m of msgs) {
            const v = g.check(m as never);
            expect(REASONS).toContain(v.ok ? 'ok' : v.reason);
          }
          const counts = Object.values(g.report().counts);
          expect(counts.every((n) => n >= 0)).toBe(true);
          expect(counts.reduce((a, b) => a + b, 0)).toBe(msgs.length);
        },
      ),
    );
  });

  it('hostile messages are judged, never thrown, and never lock a live connection out', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 30 }), (msgs) => {
        const g = new SkewGuard({
          maxPastMs: 1000,
          maxFutureMs: 1000,
          replayWindow: 64,
          maxPeers: 8,
          now: () => NOW,
        });
        // Peer 'a' has a live connection on epoch 1.
        expect(g.check({ peer: 'a', sentAt: NOW, seq: 10_000, epoch: 1 }).ok).toBe(true);
        let moved = false; // an accepted message legitimately moved 'a' on (a newer epoch or sequence)
        for (const m of msgs) {
          const v = g.check(m as never);
          expect(REASONS).toContain(v.ok ? 'ok' : v.reason);
          const x = m as { peer?: unknown; epoch?: unknown; seq?: unknown } | null;
          if (v.ok && x?.peer === 'a' && (x.seq !== undefined || (x.epoch ?? 1) !== 1))
            moved = true;
        }
        for (const r of g.report().recent)
          expect(r.peer.length).toBeLessThanOrEqual(MAX_PEER_ID_LENGTH);
        const counts = Object.values(g.report().counts);
        expect(counts.every((n) => n >= 0)).toBe(true);
        // Whatever was rejected in between, the live connection's next message is accepted.
        if (!moved)
          expect(g.check({ peer: 'a', sentAt: NOW, seq: 10_001, epoch: 1 }).ok).toBe(true);
      }),
    );
  });

  it('observeRoundTrip(arbitrary) returns a boolean and never widens the bound past maxRoundTripMs / 2', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            t1: hostileValue(),
            t2: hostileValue(),
            t3: hostileValue(),
            t4: hostileValue(),
          }),
          { maxLength: 6 },
        ),
        (samples) => {
          const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 500, now: () => NOW });
          for (const rt of samples)
            expect(typeof g.observeRoundTrip('p', rt as never)).toBe('boolean');
          const o = g.offset('p');
          if (o) {
            expect(Number.isFinite(o.offsetMs)).toBe(true);
            expect(o.errorMs).toBeLessThanOrEqual(750);
          }
        },
      ),
    );
  });

  it('a misbehaving clock or epoch tracker makes check() refuse, never throw or leave a rejection unhandled', async () => {
    await fc.assert(
      fc.asyncProperty(misbehaviour(), misbehaviour(), async (clock, tracker) => {
        const g = new SkewGuard({
          maxPastMs: 1000,
          maxFutureMs: 1000,
          now: misbehave(clock, NOW) as () => number,
          epochs: { epochOf: misbehave(tracker, 1) as (peer: string) => number | undefined },
        });
        const v = g.check({ peer: 'p', sentAt: NOW, epoch: 1 });
        if (clock !== 'returns') expect(v).toMatchObject({ ok: false, reason: 'invalid' });
        else if (tracker !== 'returns')
          expect(v).toMatchObject({ ok: false, reason: 'superseded' });
        else expect(v.ok).toBe(true);
        await new Promise((r) => setImmediate(r));
        expect(unhandled).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});

describe('ConnectionEpochs under hostile callbacks (hostile)', () => {
  it('new ConnectionEpochs(arbitrary options) works or throws an error naming the option', () => {
    fc.assert(
      fc.property(hostileOptions(['onSupersede'], { onSupersede: fc.constant(() => {}) }), (o) => {
        try {
          const e = new ConnectionEpochs(o as never);
          expect(e.open('p', {})).toBeGreaterThan(0);
        } catch (error) {
          expect(isOptionError(error, 'options')).toBe(true);
        }
      }),
    );
  });

  it('a misbehaving onSupersede or destroy() is reported, never thrown to open() or revoke()', async () => {
    const seen: unknown[] = [];
    const onError = (m: unknown) => seen.push(m);
    diagnostics.subscribe('halfopen:skew-guard:error', onError);
    try {
      await fc.assert(
        fc.asyncProperty(misbehaviour(), fc.boolean(), async (how: Misbehaviour, asOption) => {
          seen.length = 0;
          const conn = { destroy: misbehave(how, undefined) };
          const epochs = new ConnectionEpochs<object>(
            asOption ? { onSupersede: misbehave(how, undefined) } : undefined,
          );
          const first = epochs.open('p', conn);
          const second = epochs.open('p', {});
          expect(second).toBeGreaterThan(first);
          expect(epochs.epochOf('p')).toBe(second);
          expect(epochs.revoke('p')).toBe(true);
          expect(epochs.size).toBe(0);
          expect(epochs.superseded).toBe(2);
          await new Promise((r) => setImmediate(r));
          if (how === 'throws' || how === 'rejects' || how === 'then-throws') {
            expect(seen.length).toBeGreaterThan(0);
          }
          expect(unhandled).toEqual([]);
        }),
        { numRuns: 100 },
      );
    } finally {
      diagnostics.unsubscribe('halfopen:skew-guard:error', onError);
    }
  });
});
