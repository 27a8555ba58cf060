import { hostileOptions, isOptionError, misbehave, misbehaviour } from '@halfopen/testkit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaseLock } from '../src/index.js';

// Arbitrary options and misbehaving withLock functions, with closes while holders and waiters
// are pending. Acceptable: a TypeError/RangeError naming an option (thrown by the constructor,
// a rejection of acquire), or the documented behaviour. Never: an uncaught exception, an
// unhandled rejection (vitest fails the run on either), a promise pending after close, a
// negative count, a leaked timer.

const KEYS = ['name', 'warnAfterMs', 'leaseMs', 'captureStack', 'now'];
const ACQUIRE_KEYS = ['timeoutMs', 'signal', 'label'];
const time = fc.integer({ min: 1, max: 500 });
const validLock = {
  name: fc.string({ minLength: 1, maxLength: 8 }),
  warnAfterMs: time,
  leaseMs: time,
  captureStack: fc.boolean(),
};
const validAcquire = {
  timeoutMs: time,
  signal: fc.constant(new AbortController().signal),
  label: fc.string({ maxLength: 8 }),
};

let warn: ReturnType<typeof vi.spyOn>;
beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
  warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
});
afterEach(() => {
  warn.mockRestore();
  vi.useRealTimers();
});

/** Records how each promise settled, so the test can assert none is left pending. */
function tracker() {
  const outcomes: Array<'pending' | 'resolved' | unknown> = [];
  return {
    add<T>(p: Promise<T>): Promise<T> {
      const i = outcomes.push('pending') - 1;
      p.then(
        () => {
          outcomes[i] = 'resolved';
        },
        (e) => {
          outcomes[i] = e;
        },
      );
      return p;
    },
    outcomes,
  };
}

/** A rejection the lock documents: a coded LockError, an option error, or an abort reason. */
const documented = (e: unknown) =>
  e === 'resolved' ||
  isOptionError(e, 'options') ||
  /^HALFOPEN_ERR_(LOCK_TIMEOUT|LOCK_CLOSED)$/.test((e as { code?: string })?.code ?? '') ||
  (e as Error)?.message === 'aborted' ||
  /hostile/.test(String((e as Error)?.message));

describe('LeaseLock under hostile input (hostile)', () => {
  it('arbitrary lock and acquire options: a named option error, or a lock that works and closes clean', async () => {
    await fc.assert(
      fc.asyncProperty(
        hostileOptions(KEYS, validLock),
        fc.array(hostileOptions(ACQUIRE_KEYS, validAcquire), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        async (options, acquires, closeAfterMs) => {
          vi.clearAllTimers();
          let lock: LeaseLock;
          try {
            lock = new LeaseLock({ name: 'hostile', ...options } as never);
          } catch (error) {
            expect(isOptionError(error, 'options')).toBe(true);
            return;
          }
          const t = tracker();
          const first = t.add(lock.acquire({ label: 'first' }));
          for (const a of acquires) {
            const p = t.add(lock.acquire(a as never));
            // A holder that gets the lock keeps it a while, then releases it.
            p.then((h) => setTimeout(() => h.release(), 50)).catch(() => {});
          }
          first.then((h) => setTimeout(() => h.release(), 100)).catch(() => {});
          await vi.advanceTimersByTimeAsync(closeAfterMs);
          expect(lock.query().waiters.length).toBeGreaterThanOrEqual(0);
          lock.close();
          await vi.advanceTimersByTimeAsync(200);
          expect(t.outcomes.filter((o) => o === 'pending')).toEqual([]);
          for (const o of t.outcomes) expect(documented(o)).toBe(true);
          expect(lock.free).toBe(true);
          expect(lock.query().waiters).toEqual([]);
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
    );
  });

  it('misbehaving withLock functions, closed with holders and waiters pending', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(misbehaviour(), { minLength: 1, maxLength: 4 }),
        fc.option(time, { nil: undefined }),
        fc.integer({ min: 0, max: 300 }),
        async (hows, leaseMs, closeAfterMs) => {
          vi.clearAllTimers();
          const lock = new LeaseLock({ name: 'h', leaseMs, warnAfterMs: 20, now: Date.now });
          const t = tracker();
          for (const how of hows) {
            t.add(lock.withLock(misbehave(how, 'done') as never, { timeoutMs: 250 }));
          }
          await vi.advanceTimersByTimeAsync(closeAfterMs);
          lock.close();
          await vi.advanceTimersByTimeAsync(10);
          // A function that never settles keeps its withLock pending: that is the caller's
          // promise, documented as settling when fn settles. Every other one has settled.
          const neverSettles = hows.filter((h) => h === 'never-settles').length;
          expect(t.outcomes.filter((o) => o === 'pending').length).toBeLessThanOrEqual(
            neverSettles,
          );
          for (const o of t.outcomes) if (o !== 'pending') expect(documented(o)).toBe(true);
          expect(lock.free).toBe(true);
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
    );
  });
});
