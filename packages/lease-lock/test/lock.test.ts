import diagnostics from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  AcquireTimeoutError,
  LeaseExpiredError,
  LeaseLock,
  type StallReport,
} from '../src/index.js';

const now = () => Date.now();
beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('acquire and release', () => {
  it('hands the lock over in FIFO order with strictly increasing tokens', async () => {
    const lock = new LeaseLock({ name: 'quotes', now });
    const order: string[] = [];
    const first = await lock.acquire({ label: 'a' });
    const waits = ['b', 'c', 'd'].map((label) =>
      lock.acquire({ label }).then((h) => {
        order.push(`${label}:${h.token}`);
        h.release();
      }),
    );
    expect(lock.query().waiters.map((w) => w.label)).toEqual(['b', 'c', 'd']);
    first.release();
    await Promise.all(waits);
    expect(order).toEqual(['b:2', 'c:3', 'd:4']);
    expect(lock.free).toBe(true);
  });

  it('a new acquire while others wait queues behind them (no barging)', async () => {
    const lock = new LeaseLock({ name: 'l', now });
    const a = await lock.acquire();
    const got: string[] = [];
    const b = lock.acquire({ label: 'b' }).then((h) => {
      got.push('b');
      return h;
    });
    a.release();
    const c = lock.acquire({ label: 'c' }).then((h) => {
      got.push('c');
      return h;
    });
    (await b).release();
    (await c).release();
    expect(got).toEqual(['b', 'c']);
  });

  it('release is idempotent and a stale holding cannot release the next holder', async () => {
    const lock = new LeaseLock({ name: 'l', now });
    const a = await lock.acquire();
    a.release();
    const b = await lock.acquire();
    a.release();
    expect(lock.free).toBe(false);
    expect(a.valid).toBe(false);
    expect(b.valid).toBe(true);
    b[Symbol.dispose]();
    expect(lock.free).toBe(true);
  });

  it('withLock releases when the function throws', async () => {
    const lock = new LeaseLock({ name: 'l', now });
    await expect(
      lock.withLock(() => {
        throw new Error('rare path');
      }),
    ).rejects.toThrow('rare path');
    expect(lock.free).toBe(true);
    expect(await lock.withLock(async (h) => h.token)).toBe(2);
  });
});

describe('timeouts and aborts', () => {
  it('times out with an error naming the lock, the limit and the holder with its age', async () => {
    const lock = new LeaseLock({ name: 'kafka-consumer', now });
    await lock.acquire({ label: 'pushLoop' });
    vi.advanceTimersByTime(6_000);
    const p = lock.acquire({ timeoutMs: 500, label: 'subscribe' });
    vi.advanceTimersByTime(500);
    const err = await p.catch((e) => e);
    expect(err).toBeInstanceOf(AcquireTimeoutError);
    expect(err).toMatchObject({
      code: 'HALFOPEN_ERR_LOCK_TIMEOUT',
      lock: 'kafka-consumer',
      timeoutMs: 500,
    });
    expect(err.holder).toMatchObject({ label: 'pushLoop', token: 1, heldMs: 6500 });
    expect(err.message).toMatch(
      /lock kafka-consumer not acquired within 500 ms: held by pushLoop \(token 1\) for 6500 ms/,
    );
    expect(lock.query().waiters).toEqual([]);
  });

  it('a timed-out or aborted waiter leaves no trace and the next one still gets the lock', async () => {
    const lock = new LeaseLock({ name: 'l', now });
    const a = await lock.acquire();
    const ac = new AbortController();
    const timedOut = lock.acquire({ timeoutMs: 100, label: 't' });
    const aborted = lock.acquire({ signal: ac.signal, label: 'x' });
    const next = lock.acquire({ label: 'n' });
    ac.abort(new Error('client went away'));
    vi.advanceTimersByTime(100);
    await expect(timedOut).rejects.toBeInstanceOf(AcquireTimeoutError);
    await expect(aborted).rejects.toThrow('client went away');
    expect(lock.query().waiters.map((w) => w.label)).toEqual(['n']);
    expect(vi.getTimerCount()).toBe(0);
    a.release();
    expect((await next).token).toBe(2);
  });

  it('an already aborted signal rejects at once with its reason', async () => {
    const lock = new LeaseLock({ name: 'l', now });
    const reason = new Error('late');
    await expect(lock.acquire({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await expect(lock.acquire({ timeoutMS: 5 } as never)).rejects.toThrow(
      /options\.timeoutMS is not an option/,
    );
    expect(lock.free).toBe(true);
  });
});

describe('warnAfterMs', () => {
  it('reports a holder past the limit once, with its label and stack, on the channel and as a warning', async () => {
    const warnings: unknown[] = [];
    const onWarning = (w: unknown) => warnings.push(w);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(onWarning as never);
    const stalls: unknown[] = [];
    const sub = (m: unknown) => stalls.push(m);
    diagnostics.subscribe('halfopen:lease-lock:stall', sub);
    try {
      const lock = new LeaseLock({ name: 'subs', warnAfterMs: 1000, captureStack: true, now });
      const h = await lock.acquire({ label: 'rarePath' });
      void lock.acquire({ label: 'w1' });
      vi.advanceTimersByTime(5000);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warnings[0])).toMatch(
        /lock subs held by rarePath \(token 1\) for 1000 ms, over warnAfterMs 1000; 1 waiting: w1\n.*acquired here/s,
      );
      expect(stalls).toEqual([
        expect.objectContaining({
          lock: 'subs',
          waiters: [expect.objectContaining({ label: 'w1', waitingMs: 1000 })],
          holder: expect.objectContaining({ label: 'rarePath' }),
        }),
      ]);
      h.release();
    } finally {
      diagnostics.unsubscribe('halfopen:lease-lock:stall', sub);
      warn.mockRestore();
    }
  });
});

describe('leaseMs', () => {
  it('takes the lock from a holder past its lease: its signal aborts, the next gets a higher token, its release is a no-op', async () => {
    const lock = new LeaseLock({ name: 'l', leaseMs: 1000, now });
    const old = await lock.acquire({ label: 'forgetful' });
    const next = lock.acquire({ label: 'next' });
    vi.advanceTimersByTime(1000);
    expect(old.signal.aborted).toBe(true);
    expect(old.signal.reason).toBeInstanceOf(LeaseExpiredError);
    expect(old.signal.reason.message).toMatch(
      /lease of forgetful on lock l expired after 1000 ms \(token 1\)/,
    );
    const h = await next;
    expect(h.token).toBe(2);
    old.release();
    expect(lock.query().holder?.label).toBe('next');
    h.release();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a holder that releases from its own abort listener at expiry hands the lock to one waiter only', async () => {
    // Before the fix the release inside the listener handed off once and #expire handed off
    // again: tokens 2 and 3 were both valid, and the second handoff cancelled token 2's timers.
    const lock = new LeaseLock({ name: 'l', leaseMs: 20, now });
    const old = await lock.acquire({ label: 'old' });
    old.signal.addEventListener('abort', () => old.release());
    const granted: Array<{ token: number; valid: () => boolean }> = [];
    for (const label of ['a', 'b']) {
      void lock
        .acquire({ label })
        .then((h) => granted.push({ token: h.token, valid: () => h.valid }));
    }
    await vi.advanceTimersByTimeAsync(20);
    expect(old.valid).toBe(false);
    expect(granted.map((g) => g.token)).toEqual([2]);
    expect(granted.filter((g) => g.valid())).toHaveLength(1);
    expect(lock.query()).toMatchObject({
      holder: { label: 'a', token: 2 },
      waiters: [{ label: 'b' }],
    });
    // Token 2 still has its lease: it expires in turn and 'b' gets the lock.
    await vi.advanceTimersByTimeAsync(20);
    expect(granted.map((g) => [g.token, g.valid()])).toEqual([
      [2, false],
      [3, true],
    ]);
    lock.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('stall reports', () => {
  it('one subscriber to halfopen:lease-lock:stall sees every lock of the process, once per holding', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const reports: string[] = [];
    const sub = (m: unknown) => {
      const r = m as StallReport;
      reports.push(`${r.lock}:${r.holder.label}:${r.waiters.length}`);
    };
    diagnostics.subscribe('halfopen:lease-lock:stall', sub);
    try {
      const a = new LeaseLock({ name: 'watched-a', warnAfterMs: 1000, now });
      const b = new LeaseLock({ name: 'watched-b', warnAfterMs: 1000, now });
      const ha = await a.acquire({ label: 'x' });
      await b.acquire({ label: 'y' });
      void b.acquire({ label: 'z' }).catch(() => {});
      vi.advanceTimersByTime(3000);
      expect(reports.sort()).toEqual(['watched-a:x:0', 'watched-b:y:1']);
      ha.release();
      await a.acquire({ label: 'x2' });
      vi.advanceTimersByTime(1500);
      expect(reports).toContain('watched-a:x2:0');
      expect(reports).toHaveLength(3);
      expect(warn).toHaveBeenCalledTimes(3);
      a.close();
      b.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      diagnostics.unsubscribe('halfopen:lease-lock:stall', sub);
      warn.mockRestore();
    }
  });
});

describe('close', () => {
  it('rejects every waiter with HALFOPEN_ERR_LOCK_CLOSED, takes the holding away and stops every timer', async () => {
    const lock = new LeaseLock({ name: 'l', leaseMs: 1000, warnAfterMs: 500, now });
    const held = await lock.acquire({ label: 'h' });
    const waiters = [lock.acquire({ timeoutMs: 5000 }), lock.acquire()].map((p) =>
      p.catch((e) => e.code),
    );
    lock.close();
    expect(await Promise.all(waiters)).toEqual([
      'HALFOPEN_ERR_LOCK_CLOSED',
      'HALFOPEN_ERR_LOCK_CLOSED',
    ]);
    expect(held.valid).toBe(false);
    expect(held.signal.reason).toMatchObject({ code: 'HALFOPEN_ERR_LOCK_CLOSED' });
    held.release();
    expect(lock.free).toBe(true);
    expect(lock.query().waiters).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
    await expect(lock.acquire()).rejects.toMatchObject({ code: 'HALFOPEN_ERR_LOCK_CLOSED' });
    lock.close();
  });
});

describe('validation', () => {
  it.each([
    [{}, TypeError, /options\.name must be a non-empty string/],
    [
      { name: 'l', leaseMs: 0 },
      RangeError,
      /options\.leaseMs must be milliseconds within 1\.\..*got 0/,
    ],
    [{ name: 'l', leaseMs: Number.POSITIVE_INFINITY }, RangeError, /options\.leaseMs/],
    [{ name: 'l', leaseMS: 1000 }, TypeError, /options\.leaseMS is not an option.*leaseMs/],
    [{ name: 'l', warnAfterMs: '5' }, TypeError, /options\.warnAfterMs must be a number.*"5"/],
  ])('new LeaseLock(%o) throws naming the option', (bad, Type, msg) => {
    expect(() => new LeaseLock(bad as never)).toThrow(Type);
    expect(() => new LeaseLock(bad as never)).toThrow(msg);
  });

  it('acquire rejects bad options naming them, without queueing', async () => {
    const lock = new LeaseLock({ name: 'l', now });
    await expect(lock.acquire({ timeoutMs: -5 })).rejects.toThrow(
      /options\.timeoutMs must be milliseconds within 1\.\./,
    );
    await expect(lock.acquire({ signal: {} as never })).rejects.toThrow(
      /options\.signal must be an AbortSignal/,
    );
    await expect(lock.acquire({ timeoutMS: 5 } as never)).rejects.toThrow(
      /options\.timeoutMS is not an option/,
    );
    expect(lock.free).toBe(true);
  });
});
