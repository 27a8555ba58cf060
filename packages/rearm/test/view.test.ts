import { waitFor } from '@halfopen/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { diffMembers, rearm, type WatchedView } from '../src/index.js';
import { ModelStore } from './fixtures/model-store.js';

const views: Array<WatchedView<unknown, unknown>> = [];
afterEach(() => {
  for (const v of views.splice(0)) v.close();
});
const track = <T, V>(v: WatchedView<T, V>) => {
  views.push(v as WatchedView<unknown, unknown>);
  return v;
};
const fast = { retry: { minDelayMs: 1, maxDelayMs: 5 } };

describe('rearm', () => {
  it('reads once at start, is ready, and delivers the current value first to a subscriber', async () => {
    const store = new ModelStore();
    store.set(['a:1']);
    const view = track(rearm(store.source(), fast));
    expect(view.state).toBe('initializing');
    await view.ready;
    expect(view.state).toBe('synced');
    expect(view.current).toMatchObject({ value: ['a:1'], version: 1 });
    const got: string[][] = [];
    view.subscribe((v) => got.push(v));
    expect(got).toEqual([['a:1']]);
  });

  it('each change fires the watch armed by the last read, and the view follows', async () => {
    const store = new ModelStore();
    const view = track(rearm(store.source(), fast));
    await view.ready;
    const versions: number[] = [];
    view.subscribe((_v, version) => versions.push(version));
    for (let i = 1; i <= 5; i++) {
      store.set([`n${i}`]);
      await waitFor(() => view.current?.version === i, `version ${i}`);
    }
    expect(versions).toEqual([0, 1, 2, 3, 4, 5]);
    expect(view.stats()).toMatchObject({ reads: 6, events: 5, errors: 0 });
  });

  it('a storm of changes during a read folds into one follow-up read', async () => {
    let release!: () => void;
    let gate: Promise<void> = Promise.resolve();
    const store = new ModelStore(() => gate);
    const view = track(rearm(store.source(), fast));
    await view.ready;
    gate = new Promise((r) => {
      release = r;
    });
    store.set(['x']); // fires the watch: a read starts and blocks on the gate
    await waitFor(() => store.inFlight === 1, 'the read');
    for (let i = 0; i < 100; i++) store.set([`x${i}`]); // no watch armed: nothing fires
    release();
    gate = Promise.resolve();
    await waitFor(() => view.current?.version === 101, 'convergence');
    expect(store.maxInFlight).toBe(1);
    expect(view.stats().reads).toBeLessThanOrEqual(3);
  });

  it('a lost watch marks the view stale, and it re-reads once the source can', async () => {
    const store = new ModelStore();
    store.set(['a']);
    const view = track(rearm(store.source(), fast));
    await view.ready;
    store.disconnect();
    await waitFor(() => view.state === 'stale', 'stale');
    store.set(['b']); // while disconnected: no watch armed
    await new Promise((r) => setTimeout(r, 30));
    expect(view.current?.value).toEqual(['a']);
    expect(view.stats().staleForMs).toBeGreaterThan(0);
    store.reconnect();
    await waitFor(() => view.state === 'synced' && view.current?.value[0] === 'b', 're-sync');
    expect(view.stats().errors).toBeGreaterThan(0);
  });

  it('when a finite number of retries runs out, it tries again after the backoff cap', async () => {
    const store = new ModelStore();
    store.failing = true;
    const view = track(
      rearm(store.source(), { retry: { retries: 1, minDelayMs: 1, maxDelayMs: 20 } }),
    );
    await waitFor(() => store.reads >= 2, 'the retry');
    store.failing = false;
    await view.ready;
    expect(view.state).toBe('synced');
  });

  it('accept() can refuse an empty list after errors: the old one stays, marked stale', async () => {
    const store = new ModelStore();
    store.set(['a', 'b']);
    const view = track(rearm(store.source(), { ...fast, accept: (next) => next.length > 0 }));
    await view.ready;
    store.set([]);
    await waitFor(() => view.stats().refused === 1, 'the refusal');
    expect(view.current?.value).toEqual(['a', 'b']);
    expect(view.state).toBe('stale');
  });

  it('readTimeoutMs aborts a read that hangs and retries it', async () => {
    const store = new ModelStore();
    store.hang = true;
    const view = track(rearm(store.source(), { ...fast, readTimeoutMs: 30 }));
    await waitFor(() => store.reads >= 2, 'a retry');
    store.hang = false;
    await view.ready;
    expect(view.stats().errors).toBeGreaterThanOrEqual(1);
  });

  it('resyncIntervalMs catches a change whose watch event was lost without notice', async () => {
    const store = new ModelStore();
    const view = track(rearm(store.source(), { ...fast, resyncIntervalMs: 40 }));
    await view.ready;
    store.loseEvents = true;
    store.set(['silently']);
    await waitFor(() => view.current?.value[0] === 'silently', 'the resync', { timeoutMs: 2000 });
    expect(view.stats().resyncs).toBeGreaterThanOrEqual(1);
  });

  it('a result older than the published one is dropped: versions never go backwards', async () => {
    let calls = 0;
    const view = track(
      rearm(
        {
          compare: (a: number, b: number) => a - b,
          read: async () => {
            calls++;
            // The second read answers with an older version (a lagging replica).
            const version = calls === 2 ? 1 : calls * 10;
            return {
              value: version,
              version,
              next:
                calls < 3 ? Promise.resolve({ kind: 'changed' as const }) : new Promise(() => {}),
            };
          },
        },
        fast,
      ),
    );
    await waitFor(() => calls === 3, 'three reads');
    await waitFor(() => view.current?.version === 30, 'the newest');
    expect(view.stats().dropped).toBe(1);
  });

  it('close() stops reading; an aborted signal closes it', async () => {
    const store = new ModelStore();
    const ac = new AbortController();
    const view = rearm(store.source(), { ...fast, signal: ac.signal });
    await view.ready;
    ac.abort();
    expect(view.state).toBe('closed');
    const reads = store.reads;
    store.set(['z']);
    await new Promise((r) => setTimeout(r, 20));
    expect(store.reads).toBe(reads);
  });

  it('rejects bad options naming them', () => {
    const source = new ModelStore().source();
    expect(() => rearm({} as never)).toThrow(/source must have read/);
    expect(() => rearm(source, { coalesceMs: -1 })).toThrow(
      /options\.coalesceMs must be milliseconds within 0\.\.\d+, got -1/,
    );
    expect(() => rearm(source, { readTimeoutMs: 'x' as never })).toThrow(
      /options\.readTimeoutMs must be a number/,
    );
    expect(() => rearm(source, { accept: 1 as never })).toThrow(
      /options\.accept must be a function/,
    );
    expect(() => rearm(source, { retry: { minTimeout: 5 } as never })).toThrow(
      /options\.retry\.minTimeout is not an option/,
    );
  });
});

describe('diffMembers', () => {
  it('says what was added and removed', () => {
    expect(diffMembers(['a', 'b', 'c'], ['b', 'c', 'd'])).toEqual({ added: ['d'], removed: ['a'] });
  });
});
