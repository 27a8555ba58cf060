import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import { guardServer } from '@halfopen/idle-timeout';
import { LeaseLock } from '@halfopen/lease-lock';
import { rearm, type WatchEvent } from '@halfopen/rearm';
import { Topic } from '@halfopen/registry';
import { waitFor } from '@halfopen/testkit';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type Check,
  type CheckResult,
  eventLoopCheck,
  lockCheck,
  progress,
  progressCheck,
  serverGuardCheck,
  topicCheck,
  viewCheck,
} from '../src/index.js';

const ctx = (now: number) => ({ signal: new AbortController().signal, now });
const run = (check: Check, now = 0) => check(ctx(now)) as CheckResult;

describe('progressCheck', () => {
  it('fails when the counter has not advanced for stallMs while work waits, naming what and how long', () => {
    let done = 0;
    let waiting = 0;
    const check = progressCheck({
      stallMs: 1000,
      degradedMs: 500,
      what: 'quotes pushed',
      counter: () => done,
      pending: () => waiting,
    });
    expect(run(check, 0).state).toBe('healthy');
    waiting = 3;
    expect(run(check, 100)).toMatchObject({ state: 'healthy' }); // waiting starts now
    expect(run(check, 600)).toMatchObject({ state: 'degraded' });
    expect(run(check, 1100)).toEqual({
      state: 'failing',
      reason: 'quotes pushed: no progress for 1000 ms while 3 wait (stallMs 1000)',
      evidence: { counter: 0, pending: 3, stalledMs: 1000 },
    });
    done = 1;
    expect(run(check, 1200)).toMatchObject({ state: 'healthy', reason: 'quotes pushed advanced' });
  });

  it('never fails while nothing waits, however long the counter stands still', () => {
    const check = progressCheck({ stallMs: 10, counter: () => 7, pending: () => false });
    for (let t = 0; t < 10_000; t += 1000) expect(run(check, t).state).toBe('healthy');
  });

  it('without pending, expects an advance at least once per stallMs', () => {
    let n = 0;
    const check = progressCheck({ stallMs: 500, counter: () => n });
    run(check, 0);
    expect(run(check, 400).state).toBe('healthy');
    expect(run(check, 500).state).toBe('failing');
    n++;
    expect(run(check, 600).state).toBe('healthy');
  });

  it('reports a counter that is not a number as failing', () => {
    const check = progressCheck({ stallMs: 1, counter: () => 'x' as unknown as number });
    expect(run(check)).toMatchObject({
      state: 'failing',
      reason: 'progress counter returned "x", not a number',
    });
  });

  it('refuses bad options naming them', () => {
    expect(() => progressCheck({ counter: () => 1 } as never)).toThrow(/options\.stallMs/);
    expect(() => progressCheck({ stallMs: 5 } as never)).toThrow(/options\.counter/);
    expect(() => progressCheck({ stallMs: 5, counter: () => 1, degradedMs: 6 })).toThrow(
      /options\.degradedMs/,
    );
  });
});

describe('progress()', () => {
  it('input() and mark() feed its check: work in and none done is a stall', () => {
    const p = progress({ stallMs: 100, what: 'consumer' });
    expect(run(p.check, 0).state).toBe('healthy');
    p.input(2);
    p.mark();
    expect(p.pending).toBe(1);
    expect(run(p.check, 10).state).toBe('healthy'); // advanced
    expect(run(p.check, 110)).toMatchObject({
      state: 'failing',
      reason: 'consumer: no progress for 100 ms while 1 wait (stallMs 100)',
    });
    p.mark();
    expect(run(p.check, 120).state).toBe('healthy');
    expect(run(p.check, 1000).state).toBe('healthy'); // nothing waits
  });
});

describe('lockCheck', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fails while a lock is held past its warnAfterMs, naming the holder, token and waiters', () => {
    let t = 0;
    const lock = new LeaseLock({ name: 'consumer', warnAfterMs: 100, now: () => t });
    const check = lockCheck({ locks: [lock] });
    try {
      expect(run(check).state).toBe('healthy');
      void lock.acquire({ label: 'quote 50' });
      void lock.acquire({ label: 'quote 51' }).catch(() => {});
      t = 99;
      expect(run(check).state).toBe('healthy');
      t = 150;
      expect(run(check)).toEqual({
        state: 'failing',
        reason: 'lock consumer held by quote 50 (token 1) for 150 ms (limit 100 ms), 1 waiting',
        evidence: { heldMs: 150, token: 1, waiters: 1, limitMs: 100 },
      });
    } finally {
      check[Symbol.dispose]?.();
    }
  });

  it('is degraded when a stall was published since the last look but the lease moved the lock on', async () => {
    vi.useFakeTimers();
    const warning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const lock = new LeaseLock({ name: 'consumer', warnAfterMs: 100, leaseMs: 300 });
    const check = lockCheck({ locks: [lock] });
    try {
      await lock.acquire({ label: 'quote 7' });
      await vi.advanceTimersByTimeAsync(300); // stall at 100, lease expiry at 300
      expect(lock.free).toBe(true);
      expect(run(check)).toMatchObject({
        state: 'degraded',
        reason:
          'lock consumer was held past its warning by quote 7 since the previous check, and moved on',
      });
      expect(run(check).state).toBe('healthy');
    } finally {
      check[Symbol.dispose]?.();
      warning.mockRestore();
    }
    expect(diagnostics.channel('halfopen:lease-lock:stall').hasSubscribers).toBe(false);
  });

  it('needs a limit: heldMs or the lock’s warnAfterMs', () => {
    const lock = new LeaseLock({ name: 'plain' });
    expect(() => lockCheck({ locks: [lock] })).toThrow(/options\.heldMs is required/);
    expect(() => lockCheck({ locks: [] })).toThrow(/options\.locks/);
    expect(() => lockCheck({ locks: [{}] as never })).toThrow(/options\.locks\[0\]/);
  });
});

describe('topicCheck', () => {
  it('fails while a subscriber has been behind for lagMs, naming it', () => {
    let t = 0;
    const topic = new Topic<number>({ name: 'members', now: () => t });
    topic.subscribe(() => new Promise(() => {}), { label: 'rpc-client' });
    topic.subscribe(() => {}, { label: 'backup-writer' });
    const check = topicCheck({ topic, lagMs: 500 });
    topic.publish(1);
    topic.publish(2);
    expect(run(check).state).toBe('healthy');
    t = 600;
    expect(run(check)).toEqual({
      state: 'failing',
      reason: '1 subscriber(s) of members behind for 500 ms or more: rpc-client',
      evidence: { lagging: 1, lagMs: 500 },
    });
    topic.close();
  });
});

describe('viewCheck', () => {
  it('fails before the first sync, passes while synced, fails once stale with the age and the reason', async () => {
    let reads = 0;
    let fire!: (e: WatchEvent) => void;
    const view = rearm<string[], number>(
      {
        async read() {
          if (++reads > 1) throw new Error('store unreachable');
          return { value: ['a'], version: 1, next: new Promise<WatchEvent>((r) => (fire = r)) };
        },
        compare: (a, b) => a - b,
      },
      { name: 'members', staleAfterMs: 30, retry: { minDelayMs: 5, maxDelayMs: 5 } },
    );
    const check = viewCheck({ view });
    try {
      expect(run(check)).toMatchObject({ state: 'failing', reason: 'view members not synced yet' });
      await view.ready;
      expect(run(check).state).toBe('healthy');
      fire({ kind: 'changed' });
      await waitFor(() => view.state === 'stale', 'the view to go stale');
      const r = run(check);
      expect(r.state).toBe('failing');
      expect(r.reason).toMatch(/^view members stale for \d+ ms \(.+\)$/); // with the stale channel's reason
      view.close();
      expect(run(check)).toMatchObject({ state: 'failing', reason: 'view members closed' });
    } finally {
      view.close();
      check[Symbol.dispose]?.();
    }
  });
});

describe('serverGuardCheck', () => {
  it('fails when the guard cut more than maxCutFraction of a window, and keeps its verdict through a quiet spell', () => {
    const stats = { guarded: 0, destroyed: { 'first-byte': 0, 'read-idle': 0 } };
    const check = serverGuardCheck({
      guard: { stats: () => stats },
      maxCutFraction: 0.5,
      minConnections: 10,
    });
    run(check);
    stats.guarded = 20;
    stats.destroyed['read-idle'] = 2;
    expect(run(check)).toMatchObject({ state: 'healthy', reason: 'cut 2 of 20 connections (10%)' });
    stats.guarded = 40;
    stats.destroyed['first-byte'] = 18;
    expect(run(check)).toMatchObject({
      state: 'failing',
      reason: 'cut 18 of 20 connections (90%): first-byte 18',
      evidence: { guarded: 20, cut: 18, cutPercent: 90, 'first-byte': 18 },
    });
    stats.guarded = 42; // too few for a new verdict
    expect(run(check).state).toBe('failing');
  });

  it('on a real guarded server whose every connection is a silent probe: none served', async () => {
    const server = net.createServer((s) => s.on('error', () => {}));
    const guard = guardServer(server, { firstByteMs: 30 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const check = serverGuardCheck({ guard, minConnections: 5 });
    run(check);
    const probes = Array.from({ length: 5 }, () =>
      net.connect(port, '127.0.0.1').on('error', () => {}),
    );
    try {
      await waitFor(() => guard.stats().destroyed['first-byte'] === 5, 'the probes to be cut');
      expect(run(check)).toMatchObject({
        state: 'failing',
        reason: 'cut 5 of 5 connections (100%), none served: first-byte 5',
      });
    } finally {
      for (const p of probes) p.destroy();
      guard.dispose();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('eventLoopCheck', () => {
  it('fails after the loop was blocked past failingMs, and releases its histogram on dispose', async () => {
    const check = eventLoopCheck({ degradedMs: 50, failingMs: 100, resolutionMs: 10 });
    try {
      expect(run(check)).toMatchObject({ state: 'healthy', reason: 'measuring since now' });
      await new Promise((r) => setTimeout(r, 30));
      const end = Date.now() + 250;
      while (Date.now() < end) {} // block the loop
      await new Promise((r) => setTimeout(r, 30));
      const r = run(check);
      expect(r.state).toBe('failing');
      expect(r.reason).toMatch(
        /^event loop delay p99 \d+(\.\d)? ms \(max \d+(\.\d)? ms\) >= 100 ms$/,
      );
      expect(r.evidence?.p99Ms).toBeGreaterThanOrEqual(100);
    } finally {
      check[Symbol.dispose]?.();
    }
  });
});
