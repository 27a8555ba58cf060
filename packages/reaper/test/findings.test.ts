import { describe, expect, it, vi } from 'vitest';
import { ConnectionMap } from '../src/index.js';
import { FakeConn, fakeTimeQuietWarnings } from './fake-conn.js';

// Issue 13, findings 1 and 3 for the reaper: each test failed on the map before the fix.

const now = () => Date.now();
const warnings = fakeTimeQuietWarnings();

/** A factory that dials until `connect()` is called. */
function slowFactory() {
  const made: FakeConn[] = [];
  let connect: () => void = () => {};
  const factory = (key: string) =>
    new Promise<FakeConn>((resolve) => {
      connect = () => {
        const c = new FakeConn(key);
        made.push(c);
        resolve(c);
      };
    });
  return { factory, made, connect: () => connect() };
}

describe('finding 1: time options past 2^31-1 ms', () => {
  it('an idleTimeoutMs past 2^31-1 ms reaps on time and does not spin the timer', () => {
    // Before: setTimeout(2^32) fires after 1 ms, so the map swept about once a millisecond.
    let reads = 0;
    const map = new ConnectionMap<string, FakeConn>({
      idleTimeoutMs: 2 ** 32,
      graceMs: 0,
      now: () => {
        reads++;
        return Date.now();
      },
    });
    map.set('a', new FakeConn('a'));
    reads = 0;
    vi.advanceTimersByTime(10_000);
    expect(reads).toBeLessThan(5);
    expect(map.has('a')).toBe(true);
    vi.advanceTimersByTime(2 ** 32 - 10_000);
    expect(map.has('a')).toBe(false);
    expect(map.stats().reaped.idle).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a graceMs past 2^31-1 ms destroys after graceMs, not after 1 ms', () => {
    const map = new ConnectionMap<string, FakeConn>({ now, graceMs: 2 ** 31 });
    const c = new FakeConn('c');
    map.set('a', c);
    map.delete('a');
    expect(c.ended).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(c.destroyed).toBe(false);
    vi.advanceTimersByTime(2 ** 31 - 10_000);
    expect(c.destroyed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('finding 3: close, retain and leases racing with the map', () => {
  it('close() while a factory dials destroys the new connection and rejects with HALFOPEN_ERR_REAPER_CLOSED', async () => {
    const map = new ConnectionMap<string, FakeConn>({ now, graceMs: 0 });
    const dial = slowFactory();
    const p = map.getOrCreate('a', dial.factory);
    const settled = p.catch((e) => e);
    await map.close();
    dial.connect();
    const err = await settled;
    expect(err).toMatchObject({ code: 'HALFOPEN_ERR_REAPER_CLOSED' });
    await vi.advanceTimersByTimeAsync(0);
    expect(dial.made).toHaveLength(1);
    expect(dial.made[0]!.destroyed).toBe(true); // before: open and owned by nobody
    expect(map.size).toBe(0);
  });

  it('acquire() and getOrCreate() on a closed map reject with HALFOPEN_ERR_REAPER_CLOSED without dialing', async () => {
    const map = new ConnectionMap<string, FakeConn>({ now });
    await map.close();
    const factory = vi.fn((k: string) => new FakeConn(k));
    await expect(map.acquire('a', factory)).rejects.toMatchObject({
      code: 'HALFOPEN_ERR_REAPER_CLOSED',
    });
    await expect(map.getOrCreate('a', factory)).rejects.toMatchObject({
      code: 'HALFOPEN_ERR_REAPER_CLOSED',
    });
    expect(factory).not.toHaveBeenCalled();
    expect(() => map.set('a', new FakeConn('a'))).toThrow(
      expect.objectContaining({ code: 'HALFOPEN_ERR_REAPER_CLOSED' }),
    );
  });

  it('retain() while a factory dials keeps the removed key out and closes its new connection', async () => {
    const map = new ConnectionMap<string, FakeConn>({ now, graceMs: 0 });
    const reaps: string[] = [];
    map.on('reap', (k, c, info) => reaps.push(`${k}=${c.id}:${info.reason}`));
    const dial = slowFactory();
    const p = map.getOrCreate('gone', dial.factory).catch((e) => e);
    map.retain(['live']);
    dial.connect();
    const err = await p;
    expect(err).toMatchObject({ code: 'HALFOPEN_ERR_REAPER_REMOVED' });
    expect(map.has('gone')).toBe(false); // before: the removed key came back
    expect(dial.made[0]!.destroyed).toBe(true);
    expect(reaps).toEqual(['gone=gone:removed']);
    await map.close();
  });

  it('a value already destroyed when stored is not kept', async () => {
    const map = new ConnectionMap<string, FakeConn>({ now });
    const dead = new FakeConn('dead');
    dead.destroy();
    map.set('a', dead);
    expect(map.has('a')).toBe(false); // before: kept forever (its close event was long gone)
    expect(map.stats().reaped['peer-closed']).toBe(1);
    await expect(map.acquire('a', () => dead)).rejects.toMatchObject({
      code: 'HALFOPEN_ERR_REAPER_REAPED',
    });
    await map.close();
  });

  it('a lease released after close() leaves inUse and closingOnRelease at 0', async () => {
    const map = new ConnectionMap<string, FakeConn>({ now, close: () => {} });
    map.set('a', new FakeConn('a'));
    map.set('b', new FakeConn('b'));
    const a = await map.acquire('a');
    const b = await map.acquire('b');
    map.delete('b'); // leased: closed on release
    expect(map.stats()).toMatchObject({ inUse: 2, closingOnRelease: 1 });
    await map.close();
    a.release();
    b.release();
    expect(map.stats()).toMatchObject({ size: 0, inUse: 0, closingOnRelease: 0 }); // before: -1
  });

  it('a throwing reap listener neither leaves the reaped connection open nor stops the timer', () => {
    const map = new ConnectionMap<string, FakeConn>({ now, idleTimeoutMs: 100, graceMs: 0 });
    map.on('reap', () => {
      throw new Error('listener bug');
    });
    const a = new FakeConn('a');
    const b = new FakeConn('b');
    map.set('a', a);
    vi.advanceTimersByTime(50);
    map.set('b', b);
    // Before: the throw escaped the timer callback (an uncaught exception), `a` stayed open
    // and `b` was never reaped because the timer was not re-armed.
    vi.advanceTimersByTime(50);
    expect(a.destroyed).toBe(true);
    vi.advanceTimersByTime(50);
    expect(b.destroyed).toBe(true);
    expect(map.size).toBe(0);
    expect(warnings()).toHaveBeenCalledWith(
      expect.objectContaining({ code: 'HALFOPEN_ERR_REAPER_CALLBACK' }),
    );
  });

  it('close() settles a getOrCreate whose factory never settles', async () => {
    const map = new ConnectionMap<string, FakeConn>({ now });
    const p = map.getOrCreate('a', () => new Promise<FakeConn>(() => {})).catch((e) => e);
    await map.close();
    expect(await p).toMatchObject({ code: 'HALFOPEN_ERR_REAPER_CLOSED' });
  });
});
