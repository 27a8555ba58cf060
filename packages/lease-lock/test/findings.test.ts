import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaseLock } from '../src/index.js';

// Issue 13, findings 1 and 9 for lease-lock: each test failed on the lock before the fix.

const DAY = 24 * 3600 * 1000;
const now = () => Date.now();

describe('finding 1: time options past 2^31-1 ms', () => {
  let warn: ReturnType<typeof vi.spyOn>;
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
    warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
  });
  afterEach(() => {
    warn.mockRestore();
    vi.useRealTimers();
  });

  it('a leaseMs of 30 days does not expire at once: mutual exclusion holds', async () => {
    // Before: setTimeout(30 days) fired after 1 ms and the waiter got the lock.
    const lock = new LeaseLock({ name: 'l', leaseMs: 30 * DAY, now });
    const first = await lock.acquire({ label: 'first' });
    let second: unknown;
    void lock.acquire({ label: 'second' }).then((h) => (second = h));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(first.valid).toBe(true);
    expect(second).toBeUndefined();
    expect(lock.query().holder?.label).toBe('first');
    await vi.advanceTimersByTimeAsync(30 * DAY - 10_000);
    expect(first.valid).toBe(false);
    expect(second).toMatchObject({ label: 'second', token: 2 });
    lock.close();
  });

  it('a timeoutMs of 30 days does not time out at once', async () => {
    const lock = new LeaseLock({ name: 'l', now });
    await lock.acquire();
    const outcome = lock.acquire({ timeoutMs: 30 * DAY }).then(
      () => 'granted',
      (e) => e.code,
    );
    let settled: unknown;
    void outcome.then((v) => (settled = v));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(settled).toBeUndefined();
    await vi.advanceTimersByTimeAsync(30 * DAY);
    expect(settled).toBe('HALFOPEN_ERR_LOCK_TIMEOUT');
    lock.close();
  });

  it('a warnAfterMs of 30 days does not warn at once', async () => {
    const lock = new LeaseLock({ name: 'l', warnAfterMs: 30 * DAY, now });
    await lock.acquire({ label: 'slow' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(warn).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(30 * DAY);
    expect(warn).toHaveBeenCalledTimes(1);
    lock.close();
  });
});

describe('finding 9: a waiter is told before the process exits', () => {
  const run = promisify(execFile);
  const fixture = fileURLToPath(new URL('./fixtures/waiter.ts', import.meta.url));
  const job = async (mode: string) =>
    (await run(process.execPath, ['--import', 'tsx', fixture, mode], { timeout: 15_000 })).stdout;

  it('a job whose only pending work is a waiter with timeoutMs gets its AcquireTimeoutError', async () => {
    // Before: the deadline timer was unref'd, so the job exited 0 with the waiter never told.
    expect(await job('timeout')).toBe('rejected HALFOPEN_ERR_LOCK_TIMEOUT\n');
  });

  it('a job whose only pending work is a waiter behind a leased holder gets the lock at expiry', async () => {
    expect(await job('lease')).toBe('granted token 2\n');
  });
});
