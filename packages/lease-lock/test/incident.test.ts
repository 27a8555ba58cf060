import diagnostics from 'node:diagnostics_channel';
import { describe, expect, it, vi } from 'vitest';
import { LeaseLock, type StallReport } from '../src/index.js';

// Incident 2: a push service's subscribe handler and its consumer loop share a lock; a rare
// path returns without releasing. Without halfopen, every later acquire waits forever.
describe('incident 2: a lock that was never released', () => {
  async function service(lock: LeaseLock) {
    const served: string[] = [];
    const failed: string[] = [];
    const handle = async (i: number) => {
      try {
        await lock.withLock(
          async (held) => {
            held.signal.throwIfAborted();
            served.push(`msg${i}`);
          },
          { timeoutMs: 200, label: `msg${i}` },
        );
      } catch (err) {
        failed.push((err as Error).message);
      }
    };
    // The rare path: acquires and returns without releasing.
    const leaked = await lock.acquire({ label: 'rarePath(quote 17)' });
    void leaked;
    const results = [];
    for (let i = 0; i < 3; i++) results.push(handle(i));
    return { served, failed, done: Promise.all(results) };
  }

  it('the stall report names the forgetful holder; waiters fail fast naming it', async () => {
    vi.useFakeTimers({ now: 0 });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const stalls: string[] = [];
    const onStall = (r: unknown) => stalls.push((r as StallReport).holder.label!);
    diagnostics.subscribe('halfopen:lease-lock:stall', onStall);
    try {
      const lock = new LeaseLock({ name: 'consumer', warnAfterMs: 1000, now: () => Date.now() });
      const s = await service(lock);
      await vi.advanceTimersByTimeAsync(1500);
      await s.done;
      expect(s.served).toEqual([]);
      expect(s.failed).toHaveLength(3);
      expect(s.failed[0]).toMatch(
        /HALFOPEN_ERR_LOCK_TIMEOUT: lock consumer not acquired within 200 ms: held by rarePath\(quote 17\)/,
      );
      expect(stalls).toEqual(['rarePath(quote 17)']);
      expect(warn).toHaveBeenCalledTimes(1);
      lock.close();
    } finally {
      diagnostics.unsubscribe('halfopen:lease-lock:stall', onStall);
      warn.mockRestore();
      vi.useRealTimers();
    }
  });

  it('with a lease the service recovers by itself', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const lock = new LeaseLock({ name: 'consumer', leaseMs: 100, now: () => Date.now() });
      const s = await service(lock);
      await vi.advanceTimersByTimeAsync(1000);
      await s.done;
      expect(s.served).toEqual(['msg0', 'msg1', 'msg2']);
      expect(s.failed).toEqual([]);
      expect(lock.free).toBe(true);
      lock.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('without any of it, the same service waits forever (what the incident saw)', async () => {
    const lock = new LeaseLock({ name: 'consumer' });
    await lock.acquire({ label: 'rarePath' });
    const settled = await Promise.race([
      lock.acquire().then(() => 'acquired'),
      new Promise((r) => setTimeout(() => r('still waiting'), 100)),
    ]);
    expect(settled).toBe('still waiting');
    lock.close();
  });
});
