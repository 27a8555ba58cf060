import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConnectionEpochs, SkewGuard } from '../src/index.js';

const NOW = 1_700_000_000_000;
const now = () => NOW;
const W = 64;

describe('SkewGuard (property)', () => {
  it('verdicts match a reference model of the time window, epochs and replay window', () => {
    const msg = fc.record({
      peer: fc.constantFrom('a', 'b', 'c'),
      age: fc.integer({ min: -3000, max: 3000 }),
      seq: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
      epoch: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 200 }), (msgs) => {
        const g = new SkewGuard({ maxPastMs: 2000, maxFutureMs: 1000, replayWindow: W, now });
        const model = new Map<string, { epoch: number; highest: number; seen: Set<number> }>();
        for (const m of msgs) {
          const st = model.get(m.peer) ?? { epoch: 0, highest: -1, seen: new Set<number>() };
          model.set(m.peer, st);
          // Only an accepted message changes the model: a higher epoch's fresh sequence space
          // and the sequence number are committed when the verdict is 'ok'.
          let expected: string;
          const fresh = m.epoch !== undefined && m.epoch > st.epoch;
          const seen = fresh ? new Set<number>() : st.seen;
          const highest = fresh ? -1 : st.highest;
          if (m.epoch !== undefined && m.epoch < st.epoch) expected = 'superseded';
          else if (m.age > 2000) expected = 'stale';
          else if (-m.age > 1000) expected = 'future';
          else if (m.seq !== undefined && (m.seq <= highest - W || seen.has(m.seq)))
            expected = 'replay';
          else expected = 'ok';
          if (expected === 'ok') {
            if (fresh) {
              st.epoch = m.epoch!;
              st.highest = -1;
              st.seen = new Set<number>();
            }
            if (m.seq !== undefined) {
              st.seen.add(m.seq);
              st.highest = Math.max(st.highest, m.seq);
            }
          }
          const v = g.check({ peer: m.peer, sentAt: NOW - m.age, seq: m.seq, epoch: m.epoch });
          expect(v.ok ? 'ok' : v.reason).toBe(expected);
        }
      }),
    );
  });

  it('within the window every sequence number is accepted exactly once, whatever the arrival order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.shuffledSubarray([...Array(W).keys()], { minLength: W, maxLength: W }),
        fc.array(fc.nat({ max: W - 1 })),
        (base, order, dups) => {
          const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: W, now });
          const arrivals = [...order, ...dups].map((i) => base + i);
          fc.pre(arrivals.length > 0);
          const accepted = new Map<number, number>();
          for (const seq of arrivals) {
            const v = g.check({ peer: 'p', sentAt: NOW, seq });
            if (v.ok) accepted.set(seq, (accepted.get(seq) ?? 0) + 1);
            else expect(v.reason).toBe('replay');
          }
          for (let i = 0; i < W; i++) expect(accepted.get(base + i)).toBe(1);
          expect(g.check({ peer: 'p', sentAt: NOW, seq: base + W - 1 - W }).ok).toBe(false);
        },
      ),
    );
  });

  it('replay window agrees with a set model on streams that move forward with gaps and late arrivals', () => {
    // Each step: jump forward by a gap (sometimes more than the window), or arrive late/duplicated.
    const step = fc.oneof(
      fc.integer({ min: 1, max: 2 * W }).map((d) => ({ forward: d })),
      fc.integer({ min: 0, max: W + 4 }).map((back) => ({ back })),
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 300 }), (steps) => {
        const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: W, now });
        const seen = new Set<number>();
        let highest = -1;
        let head = 0;
        for (const st of steps) {
          if ('forward' in st) head += st.forward;
          const seq = 'forward' in st ? head : Math.max(0, head - st.back);
          const expected = seq > highest || (seq > highest - W && !seen.has(seq));
          const v = g.check({ peer: 'p', sentAt: NOW, seq });
          expect(v.ok).toBe(expected);
          if (expected) {
            seen.add(seq);
            highest = Math.max(highest, seq);
          }
        }
      }),
    );
  });

  it('epochs only increase and a superseded connection is always refused', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('x', 'y'), fc.boolean()), {
          minLength: 1,
          maxLength: 50,
        }),
        (ops) => {
          const epochs = new ConnectionEpochs<object>({ onSupersede: () => {} });
          const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, epochs, now });
          const last = new Map<string, number>();
          const old: Array<[string, number]> = [];
          for (const [peer, revoke] of ops) {
            if (revoke) {
              const cur = epochs.epochOf(peer);
              if (cur !== undefined) old.push([peer, cur]);
              epochs.revoke(peer);
              continue;
            }
            const prev = epochs.epochOf(peer);
            const e = epochs.open(peer, {});
            expect(e).toBeGreaterThan(last.get(peer) ?? 0);
            last.set(peer, e);
            if (prev !== undefined) old.push([peer, prev]);
            expect(g.check({ peer, sentAt: NOW, epoch: e }).ok).toBe(true);
          }
          for (const [peer, e] of old)
            expect(g.check({ peer, sentAt: NOW, epoch: e })).toMatchObject({
              ok: false,
              reason: 'superseded',
            });
        },
      ),
    );
  });

  it('the offset estimate lands within its stated error for random offsets and asymmetric delays', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -600_000, max: 600_000 }),
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 500 }),
            fc.integer({ min: 0, max: 500 }),
            fc.integer({ min: 0, max: 50 }),
          ),
          { minLength: 1, maxLength: 12 },
        ),
        (theta, trips) => {
          const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, offsetSamples: 8, now });
          let t1 = NOW;
          for (const [out, back, work] of trips) {
            const t2 = t1 + out + theta;
            const t3 = t2 + work;
            const t4 = t3 - theta + back;
            expect(g.observeRoundTrip('p', { t1, t2, t3, t4 })).toBe(true);
            t1 = t4 + 1000;
          }
          const o = g.offset('p')!;
          expect(Math.abs(o.offsetMs - theta)).toBeLessThanOrEqual(o.errorMs + 1e-9);
        },
      ),
    );
  });

  it('fuzzed messages never throw: each is invalid or judged like any other', () => {
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: 32, now });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record(
            {
              peer: fc.anything(),
              sentAt: fc.anything(),
              seq: fc.anything(),
              epoch: fc.anything(),
            },
            { requiredKeys: [] },
          ),
          fc.record({
            peer: fc.string(),
            sentAt: fc.double(),
            seq: fc.double(),
            epoch: fc.double(),
          }),
        ),
        (m) => {
          const v = g.check(m as never);
          expect(['ok', 'invalid', 'stale', 'future', 'replay', 'superseded']).toContain(
            v.ok ? 'ok' : v.reason,
          );
        },
      ),
    );
  });
});
