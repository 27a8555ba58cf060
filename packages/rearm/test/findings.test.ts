import diagnostics from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type OneShotWatchSource,
  RearmError,
  rearm,
  type WatchedView,
  type WatchEvent,
} from '../src/index.js';
import { ModelStore } from './fixtures/model-store.js';

// Regression tests for issue 13 (findings 1 and 4 for rearm). Each failed on the code before
// the fix, as its comment says; they pass now.

const views: Array<WatchedView<unknown, unknown>> = [];
const track = <T, V>(v: WatchedView<T, V>) => {
  views.push(v as WatchedView<unknown, unknown>);
  return v;
};
afterEach(() => {
  for (const v of views.splice(0)) v.close();
  vi.useRealTimers();
  vi.restoreAllMocks();
});
const fast = { retry: { minDelayMs: 1, maxDelayMs: 5 } };

/** `p`'s outcome, or 'pending' if it has not settled within `ms` (real time). */
function outcome(p: Promise<unknown>, ms = 1000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => 'resolved',
      (e: unknown) => e,
    ),
    new Promise((r) => {
      timer = setTimeout(() => r('pending'), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Errors published on halfopen:rearm:error while `body` runs. */
async function errorsDuring(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const on = (m: unknown) => seen.push((m as { error: unknown }).error);
  diagnostics.subscribe('halfopen:rearm:error', on);
  try {
    await body();
  } finally {
    diagnostics.unsubscribe('halfopen:rearm:error', on);
  }
  return seen;
}

/** A source answering after `delayMs` (real timers unless faked), one value per version. */
function slowSource(delayMs: number): OneShotWatchSource<number, number> & { reads: number } {
  const s = {
    reads: 0,
    compare: (a: number, b: number) => a - b,
    read: async () => {
      s.reads++;
      await new Promise((r) => setTimeout(r, delayMs));
      return { value: 1, version: 1, next: new Promise<WatchEvent>(() => {}) };
    },
  };
  return s;
}

describe('finding 1: time options past 2^31-1 ms and non-integer ones', () => {
  // Before: AbortSignal.timeout(2^31) fired after 1 ms, so every read was aborted and retried
  // forever (a read storm) and `ready` never resolved.
  it('readTimeoutMs of 2^31 ms is honoured: a read that takes 30 ms succeeds', async () => {
    const source = slowSource(30);
    const view = track(rearm(source, { ...fast, readTimeoutMs: 2 ** 31 }));
    expect(await outcome(view.ready)).toBe('resolved');
    expect(view.stats()).toMatchObject({ reads: 1, errors: 0 });
  });

  // Before: AbortSignal.timeout(1500.5) threw ERR_OUT_OF_RANGE, so every read failed forever.
  it('readTimeoutMs of 1500.5 works', async () => {
    const view = track(rearm(slowSource(1), { ...fast, readTimeoutMs: 1500.5 }));
    expect(await outcome(view.ready)).toBe('resolved');
    expect(view.stats().errors).toBe(0);
  });

  // Before: setTimeout(2^31 * jitter) fired after 1 ms, re-reading in a loop.
  it('resyncIntervalMs of 2^31 ms is honoured: no read storm', async () => {
    const source = slowSource(0);
    const view = track(rearm(source, { ...fast, resyncIntervalMs: 2 ** 31 }));
    await view.ready;
    await new Promise((r) => setTimeout(r, 100));
    expect(view.stats()).toMatchObject({ reads: 1, resyncs: 0 });
  });

  it('a time option that is not finite is refused up front, naming it', () => {
    const source = slowSource(0);
    for (const k of ['readTimeoutMs', 'resyncIntervalMs', 'staleAfterMs', 'coalesceMs']) {
      expect(() => rearm(source, { [k]: Number.POSITIVE_INFINITY })).toThrow(
        new RegExp(`options\\.${k} must be milliseconds`),
      );
    }
    expect(() => rearm(source, { retry: { maxDelayMs: Number.NaN } })).toThrow(
      /options\.retry\.maxDelayMs must be a number/,
    );
  });

  // Before: an unknown key was ignored, so a typo'd deadline silently meant no deadline.
  it('an unknown key such as readTimeoutMS is a TypeError naming it', () => {
    expect(() => rearm(slowSource(0), { readTimeoutMS: 5 } as never)).toThrow(
      /options\.readTimeoutMS is not an option \(did you mean options\.readTimeoutMs\?\)/,
    );
  });
});

describe('finding 4: throwing callbacks, ready, listeners, timers, jitter', () => {
  // Before: apply() threw inside the loop: an unhandled rejection, the loop dead, ready pending.
  it('an accept that throws counts as a failed read: reported, retried, view alive', async () => {
    const store = new ModelStore();
    store.set(['a']);
    let calls = 0;
    const boom = new Error('accept exploded');
    let view!: WatchedView<string[], number>;
    const errors = await errorsDuring(async () => {
      view = track(
        rearm(store.source(), {
          ...fast,
          accept: () => {
            if (++calls === 1) throw boom;
            return true;
          },
        }),
      );
      expect(await outcome(view.ready)).toBe('resolved');
    });
    expect(view.stats()).toMatchObject({ errors: 1, reads: 2 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(RearmError);
    expect(errors[0]).toMatchObject({ code: 'HALFOPEN_ERR_REARM_CALLBACK_FAILED', cause: boom });
    store.set(['b']);
    await vi.waitFor(() => expect(view.current?.value).toEqual(['b']));
  });

  // Before: the same unhandled rejection from compare(), after the first read.
  it('a compare that throws counts as a failed read and the view still follows', async () => {
    const store = new ModelStore();
    const source = store.source();
    let fail = false;
    const view = track(
      rearm(
        {
          read: source.read,
          compare: (a: number, b: number) => {
            if (fail) {
              fail = false;
              throw new Error('compare exploded');
            }
            return a - b;
          },
        },
        fast,
      ),
    );
    await view.ready;
    fail = true;
    store.set(['x']);
    await vi.waitFor(() => expect(view.current?.value).toEqual(['x']));
    expect(view.stats().errors).toBe(1);
    expect(view.state).toBe('synced');
  });

  // Before: ready never settled when the view closed before its first read.
  it('ready rejects with HALFOPEN_ERR_REARM_CLOSED when closed before the first read, and the read is aborted', async () => {
    let signal!: AbortSignal;
    const view = rearm({
      compare: () => 0,
      read: (s) => {
        signal = s;
        return new Promise<never>(() => {});
      },
    });
    await Promise.resolve();
    view.close();
    const got = await outcome(view.ready);
    expect(got).toBeInstanceOf(RearmError);
    expect(got).toMatchObject({ code: 'HALFOPEN_ERR_REARM_CLOSED' });
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(got);
  });

  // Before: ready never settled when the signal aborted before the first read.
  it('ready rejects with the abort reason when the signal aborts before the first read', async () => {
    const ac = new AbortController();
    const view = rearm(
      { compare: () => 0, read: () => new Promise<never>(() => {}) },
      { signal: ac.signal },
    );
    const reason = new Error('shutting down');
    ac.abort(reason);
    expect(await outcome(view.ready)).toBe(reason);
    expect(view.state).toBe('closed');
    const already = rearm(slowSource(0), { signal: ac.signal });
    expect(await outcome(already.ready)).toBe(reason);
  });

  // Before: each read's signal kept the view's abort listener for good, and close() left the
  // listener on options.signal.
  it('reads leave no abort listener behind; the signal option holds one until close', async () => {
    const store = new ModelStore();
    const signals: AbortSignal[] = [];
    const source = store.source();
    const ac = new AbortController();
    const view = track(
      rearm(
        {
          compare: source.compare,
          read: (s) => {
            signals.push(s);
            return source.read(s);
          },
        },
        { ...fast, signal: ac.signal },
      ),
    );
    await view.ready;
    for (let i = 1; i <= 20; i++) {
      store.set([`n${i}`]);
      await vi.waitFor(() => expect(view.current?.version).toBe(i), { interval: 1 });
    }
    expect(signals).toHaveLength(21);
    for (const s of signals) expect(getEventListeners(s, 'abort')).toHaveLength(0);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    view.close();
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  // Before: the "retries ran out" timer (10 s by default) was not cleared by close().
  it('close() leaves no timer behind, whatever the view was waiting for', async () => {
    vi.useFakeTimers();
    const store = new ModelStore();
    store.failing = true;
    const view = rearm(store.source(), {
      retry: { retries: 0, minDelayMs: 10, maxDelayMs: 60_000 },
      resyncIntervalMs: 1000,
      staleAfterMs: 500,
      readTimeoutMs: 100,
    });
    await vi.advanceTimersByTimeAsync(1);
    expect(store.reads).toBe(1);
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    view.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  // Before: jitter came from Math.random only (here forced to 0.99: resync after 1098 ms).
  it('jitter comes from the injected random: resync and backoff are deterministic', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.99);
    const store = new ModelStore();
    const view = track(rearm(store.source(), { resyncIntervalMs: 1000, random: () => 0 }));
    await vi.advanceTimersByTimeAsync(0);
    expect(view.state).toBe('synced');
    await vi.advanceTimersByTimeAsync(899);
    expect(view.stats().resyncs).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(view.stats().resyncs).toBe(1);

    // Backoff: 100 ms x 2^n x (1 + random()) with random() = 0.5: 150, 300, 600 ms.
    const failing = new ModelStore();
    failing.failing = true;
    track(rearm(failing.source(), { random: () => 0.5 }));
    await vi.advanceTimersByTimeAsync(0);
    const at: number[] = [];
    for (let t = 1; t <= 1050; t++) {
      const before = failing.reads;
      await vi.advanceTimersByTimeAsync(1);
      if (failing.reads > before) at.push(t);
    }
    expect(at).toEqual([150, 450, 1050]);
  });

  // Found by the hostile tier. Before: a watch that was lost at once (a rejected `next`) made
  // the view re-read at once, in a microtask loop that starved the event loop (here capped at
  // 1,000 reads so the old code ends the test instead of hanging it).
  it('a watch lost at once does not re-read in a hot loop: the re-read backs off', async () => {
    vi.useFakeTimers();
    let reads = 0;
    const view = track(
      rearm(
        {
          compare: (a: number, b: number) => a - b,
          read: async () => {
            if (++reads > 1000) return new Promise<never>(() => {});
            return { value: reads, version: reads, next: Promise.reject(new Error('gone')) };
          },
        },
        { random: () => 0 },
      ),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(reads).toBe(1);
    expect(view.state).toBe('stale');
    await vi.advanceTimersByTimeAsync(100); // minDelayMs
    expect(reads).toBe(2);
    await vi.advanceTimersByTimeAsync(200); // x2
    expect(reads).toBe(3);
  });

  it('with staleAfterMs, ready rejects by that deadline naming the last read error', async () => {
    vi.useFakeTimers();
    const store = new ModelStore();
    store.failing = true;
    const view = track(rearm(store.source(), { staleAfterMs: 1000, random: () => 0 }));
    let got: unknown;
    view.ready.catch((e) => {
      got = e;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(got).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(got).toMatchObject({ code: 'HALFOPEN_ERR_REARM_NOT_READY' });
    expect((got as Error).message).toMatch(/within 1000 ms; last error: .*connection loss/);
    expect(view.state).toBe('stale');
    store.failing = false; // the view keeps trying and syncs when the source can
    await vi.advanceTimersByTimeAsync(20_000);
    expect(view.state).toBe('synced');
  });

  it('a read past readTimeoutMs is aborted with HALFOPEN_ERR_REARM_READ_TIMEOUT and reported', async () => {
    let signal!: AbortSignal;
    const errors = await errorsDuring(async () => {
      const view = track(
        rearm(
          {
            compare: () => 0,
            read: (s) => {
              signal ??= s;
              return new Promise<never>(() => {});
            },
          },
          { ...fast, readTimeoutMs: 20 },
        ),
      );
      await vi.waitFor(() => expect(view.stats().errors).toBeGreaterThan(0));
    });
    expect(signal.reason).toMatchObject({ code: 'HALFOPEN_ERR_REARM_READ_TIMEOUT' });
    expect(errors[0]).toBe(signal.reason);
    expect((errors[0] as Error).message).toMatch(/not answered within 20 ms/);
  });
});
