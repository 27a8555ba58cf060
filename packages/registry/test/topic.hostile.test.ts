import { getEventListeners } from 'node:events';
import {
  hostileOptions,
  hostileValue,
  isOptionError,
  type Misbehaviour,
  misbehave,
  misbehaviour,
} from '@halfopen/testkit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Delivery, type Subscription, Topic } from '../src/index.js';

// Arbitrary options, misbehaving listeners and clocks, closes with deliveries pending. The
// only acceptable outcomes: a TypeError/RangeError naming the option, or the documented
// behaviour (README "Guarantees"); never a throw to the publisher, an unhandled rejection, a
// negative counter or an abort listener left on a signal.

const tick = () => new Promise((r) => setImmediate(r));
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  // An onError that throws becomes a process warning: documented, and not a failure here.
  vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  vi.restoreAllMocks();
});

const delivery = (): fc.Arbitrary<Delivery> =>
  fc.oneof(
    fc.constantFrom<Delivery>('unbounded', 'latest'),
    fc.record({
      queue: fc.integer({ min: 1, max: 4 }),
      overflow: fc.constantFrom<'drop-oldest' | 'error'>('drop-oldest', 'error'),
    }),
  );

describe('Topic under hostile input (hostile)', () => {
  it('new Topic(arbitrary options) constructs a working topic or throws an error naming the option', () => {
    fc.assert(
      fc.property(
        hostileOptions(['replay', 'onError', 'name', 'now'], {
          replay: fc.boolean(),
          name: fc.string(),
          onError: fc.constant(() => {}),
          now: fc.constant(() => 1),
        }),
        (options) => {
          let t: Topic<number>;
          try {
            t = new Topic<number>(options as never);
          } catch (error) {
            expect(isOptionError(error, 'options')).toBe(true);
            return;
          }
          const got: number[] = [];
          t.subscribe((v) => got.push(v));
          t.publish(1);
          expect(got.at(-1)).toBe(1);
        },
      ),
    );
  });

  it('subscribe(fn, arbitrary options) subscribes or throws an error naming the option, leaving size exact', () => {
    const t = new Topic<number>();
    t.publish(0);
    fc.assert(
      fc.property(
        hostileOptions(['delivery', 'signal', 'label'], {
          delivery: fc.oneof(
            delivery(),
            fc.record({ queue: hostileValue(), overflow: hostileValue() }),
          ),
          label: fc.string(),
          signal: fc.constant(new AbortController().signal),
        }),
        (options) => {
          const size = t.size;
          let s: Subscription<number>;
          try {
            s = t.subscribe(() => {}, options as never);
          } catch (error) {
            expect(isOptionError(error, 'options')).toBe(true);
            expect(t.size).toBe(size);
            return;
          }
          expect(t.size).toBe(size + 1);
          s.unsubscribe();
          expect(t.size).toBe(size);
        },
      ),
    );
  });

  it('lagging(arbitrary threshold) answers or throws an error naming thresholdMs', () => {
    const t = new Topic<number>();
    fc.assert(
      fc.property(hostileValue(), (v) => {
        try {
          expect(Array.isArray(t.lagging(v as number))).toBe(true);
        } catch (error) {
          expect(isOptionError(error, 'thresholdMs')).toBe(true);
        }
      }),
    );
  });

  it('misbehaving listeners and clocks: publish never throws, good subscribers get every version, counters stay sane, close leaves nothing behind', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(misbehaviour(), delivery(), fc.boolean()), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.constantFrom<Misbehaviour | 'none'>('none', 'throws', 'rejects', 'returns-garbage'),
        fc.constantFrom<Misbehaviour | 'none'>('none', 'throws', 'rejects', 'then-throws'),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 8 }),
        async (listeners, clock, onError, publishes, closeAfter) => {
          const t = new Topic<number>({
            replay: true,
            now: clock === 'none' ? undefined : (misbehave(clock, 1) as () => number),
            onError: onError === 'none' ? () => {} : misbehave(onError, undefined),
          });
          t.publish(0);
          const good: number[] = [];
          const goodSub = t.subscribe((_v, version) => {
            good.push(version);
          });
          const signals: AbortSignal[] = [];
          const subs = listeners.map(([how, d, withSignal]) => {
            const ac = withSignal ? new AbortController() : undefined;
            if (ac) signals.push(ac.signal);
            return t.subscribe(misbehave(how, undefined), { delivery: d, signal: ac?.signal });
          });
          for (let i = 1; i <= publishes; i++) {
            expect(() => t.publish(i)).not.toThrow();
            if (i === closeAfter) t.close();
            if (i === closeAfter) break;
            if (i % 3 === 0) await tick();
          }
          await tick();
          // The well-behaved subscriber got every version, in order, whatever the others did.
          const last = Math.min(publishes, closeAfter === 0 ? publishes : closeAfter);
          expect(good).toEqual(Array.from({ length: last + 1 }, (_, i) => i + 1));
          for (const s of [goodSub, ...subs]) {
            expect(s.pending).toBeGreaterThanOrEqual(0);
            expect(s.errors).toBeGreaterThanOrEqual(0);
            expect(s.delivered).toBeGreaterThanOrEqual(0);
            expect(s.behindMs).toBeGreaterThanOrEqual(0);
          }
          expect(t.size).toBeGreaterThanOrEqual(0);
          t.close();
          expect(t.size).toBe(0);
          for (const s of [goodSub, ...subs]) {
            expect(s.subscribed).toBe(false);
            expect(s.pending).toBe(0);
          }
          for (const sig of signals) expect(getEventListeners(sig, 'abort')).toHaveLength(0);
          expect(() => t.publish(99)).toThrow(/HALFOPEN_ERR_TOPIC_CLOSED/);
          await tick();
          expect(unhandled).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
