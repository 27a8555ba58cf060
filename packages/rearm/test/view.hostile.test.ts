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
import { type OneShotWatchSource, rearm, type WatchedView, type WatchEvent } from '../src/index.js';

// Hostile tier: arbitrary options, and sources whose read/accept/compare (and the watch each
// read returns) throw, reject, never settle, return then-throwing thenables or garbage; the view
// closed or aborted at any point with reads pending. The only acceptable outcomes: a
// TypeError/RangeError naming an option at construction, or the documented behaviour; never an
// unhandled rejection, `ready` pending after close, a timer or listener left behind, a negative
// counter, or a read after close.

const KEYS = [
  'readTimeoutMs',
  'retry',
  'coalesceMs',
  'resyncIntervalMs',
  'staleAfterMs',
  'accept',
  'signal',
  'name',
  'now',
  'random',
];
const RETRY_KEYS = ['retries', 'factor', 'minDelayMs', 'maxDelayMs', 'randomize'];
const smallMs = fc.integer({ min: 0, max: 50 });
const valid: Record<string, fc.Arbitrary<unknown>> = {
  readTimeoutMs: smallMs,
  coalesceMs: smallMs,
  resyncIntervalMs: smallMs,
  staleAfterMs: smallMs,
  retry: hostileOptions(RETRY_KEYS, {
    retries: fc.integer({ min: 0, max: 3 }),
    factor: fc.double({ min: 1, max: 4, noNaN: true }),
    minDelayMs: fc.integer({ min: 1, max: 50 }),
    maxDelayMs: fc.integer({ min: 50, max: 100 }),
    randomize: fc.boolean(),
  }),
  accept: fc.constant(() => true),
  name: fc.string({ maxLength: 5 }),
  now: fc.constant(() => performance.now()),
  random: fc.constantFrom(
    Math.random,
    () => 0,
    () => 0.999,
  ),
  signal: fc.constant(new AbortController().signal),
};

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  // setImmediate stays real: it lets rejections surface between runs.
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
  });
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  vi.useRealTimers();
});
const surface = () => new Promise((r) => setImmediate(r));

/** A value's settled state, read without waiting. */
function watch(p: Promise<unknown>): { state: string } {
  const s = { state: 'pending' };
  p.then(
    () => {
      s.state = 'resolved';
    },
    () => {
      s.state = 'rejected';
    },
  );
  return s;
}

/** Closes the view and checks what close() promises: nothing pending, no timer, sane counters. */
async function closeAndCheck(
  view: WatchedView<unknown, unknown>,
  readsOf: () => number,
  how: 'close' | AbortController,
): Promise<void> {
  const ready = watch(view.ready);
  if (how === 'close') view.close();
  else how.abort(new Error('hostile abort'));
  await vi.advanceTimersByTimeAsync(0);
  expect(view.state).toBe('closed');
  expect(ready.state).not.toBe('pending');
  expect(vi.getTimerCount()).toBe(0);
  const reads = readsOf();
  await vi.advanceTimersByTimeAsync(1000);
  expect(readsOf()).toBe(reads);
  for (const [k, v] of Object.entries(view.stats())) {
    if (typeof v === 'number') expect(v, k).toBeGreaterThanOrEqual(0);
  }
  await surface();
  expect(unhandled).toEqual([]);
}

/** The store's side: watches armed by reads, fired every 3 ms until `stop()` (its timer is not the view's). */
function changes(): { next: () => Promise<WatchEvent>; stop: () => void } {
  let armed: Array<(e: WatchEvent) => void> = [];
  const timer = setInterval(() => {
    const fire = armed;
    armed = [];
    for (const f of fire) f({ kind: 'changed' });
  }, 3);
  return {
    next: () => new Promise<WatchEvent>((r) => armed.push(r)),
    stop: () => clearInterval(timer),
  };
}

/** A well-behaved source whose value changes every few ms. */
function goodSource(): OneShotWatchSource<number, number> & { reads: number; stop: () => void } {
  let version = 0;
  const store = changes();
  const s = {
    reads: 0,
    stop: store.stop,
    compare: (a: number, b: number) => a - b,
    read: async () => {
      s.reads++;
      const v = ++version;
      return { value: v, version: v, next: store.next() };
    },
  };
  return s;
}

describe('rearm under hostile input', () => {
  it('arbitrary options: a named option error at construction, or a view that works and closes clean', async () => {
    await fc.assert(
      fc.asyncProperty(
        hostileOptions(KEYS, valid),
        fc.integer({ min: 0, max: 60 }),
        fc.boolean(),
        async (options, runMs, abort) => {
          const ac = new AbortController();
          if (abort && (options.signal === undefined || options.signal instanceof AbortSignal))
            options.signal = ac.signal;
          const source = goodSource();
          let view: WatchedView<unknown, unknown>;
          try {
            view = rearm(source as OneShotWatchSource<unknown, unknown>, options as never);
          } catch (error) {
            source.stop();
            expect(isOptionError(error, 'options'), String(error)).toBe(true);
            expect(vi.getTimerCount()).toBe(0);
            return;
          }
          await vi.advanceTimersByTimeAsync(runMs);
          source.stop();
          await closeAndCheck(view, () => source.reads, abort ? ac : 'close');
          if (options.signal instanceof AbortSignal)
            expect(getEventListeners(options.signal, 'abort')).toHaveLength(0);
        },
      ),
    );
  });

  it('a source whose read, watch, accept and compare misbehave: failed reads counted, never a crash, clean close', async () => {
    const nextOf = (how: Misbehaviour, store: ReturnType<typeof changes>): unknown =>
      how === 'returns' ? store.next() : misbehave(how, undefined)();
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          read: misbehaviour(),
          next: misbehaviour(),
          accept: misbehaviour(),
          compare: misbehaviour(),
          event: fc.oneof(fc.constant({ kind: 'changed' }), hostileValue()),
          readTimeoutMs: fc.constantFrom(0, 5),
          runMs: fc.integer({ min: 0, max: 60 }),
          abort: fc.boolean(),
        }),
        async (c) => {
          let version = 0;
          const signals: AbortSignal[] = [];
          const store = changes();
          const source = {
            reads: 0,
            compare: (a: number, b: number) => misbehave(c.compare, a - b)(),
            read: (signal: AbortSignal) => {
              source.reads++;
              signals.push(signal);
              const v = ++version;
              if (c.read !== 'returns') return misbehave(c.read, undefined)();
              const next =
                c.next === 'returns' && source.reads % 2 === 0
                  ? Promise.resolve(c.event) // an arbitrary event value
                  : nextOf(c.next, store);
              return Promise.resolve({ value: v, version: v, next });
            },
          };
          const ac = new AbortController();
          const view = rearm(source as unknown as OneShotWatchSource<unknown, unknown>, {
            retry: { minDelayMs: 1, maxDelayMs: 4 },
            readTimeoutMs: c.readTimeoutMs,
            accept: (() => misbehave(c.accept, true)()) as never,
            signal: ac.signal,
          });
          await vi.advanceTimersByTimeAsync(c.runMs);
          store.stop();
          const st = view.stats();
          expect(st.reads).toBeLessThanOrEqual(st.events + st.errors + st.resyncs + 1);
          if (c.read !== 'returns' || c.next === 'returns-garbage')
            expect(view.current).toBeUndefined();
          await closeAndCheck(view, () => source.reads, c.abort ? ac : 'close');
          for (const s of signals) {
            expect(s.aborted || getEventListeners(s, 'abort').length === 0).toBe(true);
            expect(getEventListeners(s, 'abort')).toHaveLength(0);
          }
          expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
        },
      ),
    );
  });
});
