import { misbehave } from '@halfopen/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  callUser,
  callUserAsync,
  checkOptions,
  count,
  fraction,
  HalfopenError,
  Lifecycle,
  longTimeout,
  MAX_TIMER_MS,
  ms,
  oneOf,
  rate,
} from '../src/index.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('option checks', () => {
  it('refuses a timer past 2^31-1 ms naming the option, its unit and the value', () => {
    expect(() => ms(2 ** 31, 'options.leaseMs')).toThrow(RangeError);
    expect(() => ms(2 ** 31, 'options.leaseMs')).toThrow(
      /options\.leaseMs must be milliseconds within 0\.\.2147483647, got 2147483648/,
    );
    expect(ms(MAX_TIMER_MS, 'options.leaseMs')).toBe(MAX_TIMER_MS);
  });

  it('refuses NaN, Infinity and strings with the right error class', () => {
    expect(() => ms(Number.NaN, 'options.a')).toThrow(TypeError);
    expect(() => ms('5', 'options.a')).toThrow(
      /options\.a must be a number \(milliseconds\), got "5"/,
    );
    expect(() => ms(Number.POSITIVE_INFINITY, 'options.a')).toThrow(RangeError);
    expect(() => ms(-1, 'options.a')).toThrow(RangeError);
  });

  it('rounds up to an integer only where asked', () => {
    expect(ms(1500.5, 'options.a')).toBe(1500.5);
    expect(ms(1500.5, 'options.a', { integer: true })).toBe(1501);
  });

  it('accepts 0 as off only where documented', () => {
    expect(() => ms(0, 'options.a', { min: 1 })).toThrow(RangeError);
    expect(ms(0, 'options.a', { min: 1, zeroOff: true })).toBe(0);
    expect(() => ms(0.5, 'options.a', { min: 1, zeroOff: true })).toThrow(/\(0 = off\)/);
  });

  it('treats undefined as the default, or as missing when there is none', () => {
    expect(ms(undefined, 'options.a', { default: 7 })).toBe(7);
    expect(() => ms(undefined, 'options.a')).toThrow(/options\.a is required/);
  });

  it('names the real unit of fractions, rates and counts', () => {
    expect(() => fraction(2, 'options.maxAgeJitter')).toThrow(/a fraction within 0\.\.1, got 2/);
    expect(() => rate(-5, 'options.minDrainBytesPerSec')).toThrow(/bytes per second/);
    expect(() => count('0', 'options.retries')).toThrow(TypeError);
    expect(() => count(1.5, 'options.retries')).toThrow(/an integer within/);
  });

  it('refuses unknown keys and suggests the one meant', () => {
    expect(() => checkOptions({ readIdleMS: 5 }, ['readIdleMs'])).toThrow(
      /options\.readIdleMS is not an option \(did you mean options\.readIdleMs\?\)/,
    );
    expect(() => checkOptions(5 as unknown as object, ['a'])).toThrow(TypeError);
    expect(checkOptions(undefined, ['a'])).toEqual({});
  });

  it('checks enumerations', () => {
    expect(oneOf(undefined, 'options.mode', ['a', 'b'], 'a')).toBe('a');
    expect(() => oneOf('c', 'options.mode', ['a', 'b'], 'a')).toThrow(/one of 'a', 'b', got "c"/);
  });
});

describe('HalfopenError', () => {
  it('carries a stable code, the code in the message and the cause', () => {
    const cause = new Error('inner');
    const e = new HalfopenError('HALFOPEN_ERR_X_CLOSED', 'x is closed', { cause });
    expect(e.code).toBe('HALFOPEN_ERR_X_CLOSED');
    expect(e.message).toBe('HALFOPEN_ERR_X_CLOSED: x is closed');
    expect(e.cause).toBe(cause);
  });
});

describe('callUser', () => {
  it('reports a throw instead of throwing to the caller', () => {
    const errors: unknown[] = [];
    const r = callUser(
      () => {
        throw new Error('boom');
      },
      [],
      (e) => errors.push(e),
    );
    expect(r).toBeUndefined();
    expect(errors).toHaveLength(1);
  });

  it('reports a rejecting thenable and one whose then() throws', async () => {
    const errors: unknown[] = [];
    callUser(
      () => Promise.reject(new Error('r')),
      [],
      (e) => errors.push(e),
    );
    callUser(misbehave('then-throws', 0), [], (e) => errors.push(e));
    await new Promise((r) => setImmediate(r));
    expect(errors.map((e) => (e as Error).message).sort()).toEqual([
      'hostile thenable then() throws',
      'r',
    ]);
  });

  it('survives a sink that throws', () => {
    expect(() =>
      callUser(
        () => {
          throw new Error('a');
        },
        [],
        () => {
          throw new Error('sink');
        },
      ),
    ).not.toThrow();
  });

  it('turns a synchronous throw and a throwing then() into rejections', async () => {
    await expect(
      callUserAsync(() => {
        throw new Error('sync');
      }, []),
    ).rejects.toThrow('sync');
    await expect(
      callUserAsync(misbehave('then-throws', 0) as () => Promise<0>, []),
    ).rejects.toThrow('then() throws');
  });
});

describe('longTimeout and Lifecycle', () => {
  it('fires a 30-day timer after 30 days, not after 1 ms', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    const month = 30 * 24 * 3600 * 1000;
    longTimeout(fn, month);
    vi.advanceTimersByTime(1000);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(month - 1001);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('keeps the process alive only while ref(true), chained steps included', () => {
    // Real timers: process.getActiveResourcesInfo() lists a Timeout only while it is ref'd.
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const t = longTimeout(() => {}, 2 ** 32);
    expect(timers()).toBe(before);
    t.ref(true);
    expect(timers()).toBe(before + 1);
    t.ref(false);
    expect(timers()).toBe(before);
    const r = longTimeout(() => {}, 1000, true);
    expect(timers()).toBe(before + 1);
    r.cancel();
    t.cancel();
    expect(timers()).toBe(before);
    expect(t.pending).toBe(false);
  });

  it('close rejects every pending promise, clears timers and is idempotent', async () => {
    vi.useFakeTimers();
    const life = new Lifecycle();
    const fired = vi.fn();
    life.timeout(fired, 1000);
    const p = life.track(new Promise(() => {}), () => new Error('late'));
    const closed = new HalfopenError('HALFOPEN_ERR_T_CLOSED', 'closed');
    expect(life.pendingCount).toBe(1);
    expect(life.close(closed)).toBe(true);
    expect(life.close(closed)).toBe(false);
    await expect(p).rejects.toBe(closed);
    expect(life.pendingCount).toBe(0);
    vi.advanceTimersByTime(2000);
    expect(fired).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
    await expect(life.track(Promise.resolve(1), () => closed)).rejects.toBe(closed);
  });
});

describe('Lifecycle timers', () => {
  it('forgets a timer when it is cancelled, not only when it fires or at close', () => {
    vi.useFakeTimers();
    const life = new Lifecycle();
    for (let i = 0; i < 1000; i++) life.timeout(() => {}, 60_000).cancel();
    expect(life.timerCount).toBe(0);
    const fired = vi.fn();
    life.timeout(fired, 10);
    expect(life.timerCount).toBe(1);
    vi.advanceTimersByTime(10);
    expect(fired).toHaveBeenCalledTimes(1);
    expect(life.timerCount).toBe(0);
    life.close(new Error('closed'));
  });
});
