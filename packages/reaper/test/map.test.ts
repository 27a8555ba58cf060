import diagnostics from 'node:diagnostics_channel';
import { describe, expect, it, vi } from 'vitest';
import { ConnectionMap, type ReapReason } from '../src/index.js';
import { FakeConn, fakeTimeQuietWarnings } from './fake-conn.js';

const now = () => Date.now();
fakeTimeQuietWarnings();

function recording(options = {}) {
  const reaps: string[] = [];
  const closes: string[] = [];
  const map = new ConnectionMap<string, FakeConn>({
    now,
    close: (c, reason) => closes.push(`${c.id}:${reason}`),
    ...options,
  });
  map.on('reap', (key, conn, info) => reaps.push(`${key}=${conn.id}:${info.reason}`));
  return { map, reaps, closes };
}

describe('ConnectionMap', () => {
  it('get touches, peek does not, and idle entries are reaped on the map timer', () => {
    const { map, reaps, closes } = recording({ idleTimeoutMs: 1000 });
    map.set('a', new FakeConn('a1'));
    map.set('b', new FakeConn('b1'));
    vi.advanceTimersByTime(600);
    map.get('a');
    map.peek('b');
    vi.advanceTimersByTime(400);
    expect(reaps).toEqual(['b=b1:idle']);
    expect(closes).toEqual(['b1:idle']);
    vi.advanceTimersByTime(600);
    expect(reaps).toEqual(['b=b1:idle', 'a=a1:idle']);
    expect(map.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reaps by lifetime even while used, jittered per entry', () => {
    const { map, reaps } = recording({
      maxLifetimeMs: 1000,
      lifetimeJitter: 0.5,
      random: () => 0.5,
    });
    map.set('a', new FakeConn('a1'));
    for (let i = 0; i < 7; i++) {
      vi.advanceTimersByTime(100);
      map.get('a');
    }
    expect(reaps).toEqual([]);
    vi.advanceTimersByTime(60);
    expect(reaps).toEqual(['a=a1:lifetime']);
  });

  it('never reaps a leased entry; one that became due is closed on release', async () => {
    const { map, reaps, closes } = recording({ idleTimeoutMs: 100, maxLifetimeMs: 300 });
    map.set('a', new FakeConn('a1'));
    const lease = await map.acquire('a');
    vi.advanceTimersByTime(250);
    expect(reaps).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(reaps).toEqual(['a=a1:lifetime']); // out of the map: new lookups get a new connection
    expect(map.has('a')).toBe(false);
    expect(closes).toEqual([]); // but still in use
    expect(map.stats().closingOnRelease).toBe(1);
    lease.release();
    lease.release();
    expect(closes).toEqual(['a1:lifetime']);
  });

  it('getOrCreate is single-flight per key and does not cache a failed factory', async () => {
    const { map } = recording();
    let calls = 0;
    const factory = async (k: string) => {
      calls++;
      await Promise.resolve();
      if (calls === 1) throw new Error('connect refused');
      return new FakeConn(`${k}${calls}`);
    };
    const [a, b] = await Promise.allSettled([
      map.getOrCreate('x', factory),
      map.getOrCreate('x', factory),
    ]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    expect(calls).toBe(1);
    const c = await Promise.all([map.getOrCreate('x', factory), map.getOrCreate('x', factory)]);
    expect(c[0]).toBe(c[1]);
    expect(c[0]!.id).toBe('x2');
    expect(calls).toBe(2);
  });

  it('delete with a connection removes only that exact connection, never its replacement', () => {
    const { map, reaps } = recording();
    const old = new FakeConn('old');
    map.set('a', old);
    map.set('a', new FakeConn('new'));
    expect(reaps).toEqual(['a=old:removed']);
    expect(map.delete('a', old)).toBe(false);
    expect(map.peek('a')?.id).toBe('new');
    expect(map.delete('a')).toBe(true);
  });

  it("a 'reap' listener that sets the key set() is replacing: set()'s value wins, the listener's is reaped and closed", async () => {
    // Before the fix set() stored its value over the listener's without reaping it: c2 left the
    // map unexplained and was never closed, not even by close().
    const { map, reaps, closes } = recording();
    const c0 = new FakeConn('c0');
    const c1 = new FakeConn('c1');
    const c2 = new FakeConn('c2');
    map.on('reap', (key, conn) => {
      if (conn === c0) map.set(key, c2);
    });
    map.set('a', c0);
    map.set('a', c1);
    expect(map.peek('a')).toBe(c1);
    expect(map.size).toBe(1);
    expect(reaps).toEqual(['a=c0:removed', 'a=c2:removed']);
    expect(closes).toEqual(['c0:removed', 'c2:removed']);
    await map.close();
    expect(closes).toEqual(['c0:removed', 'c2:removed', 'c1:closed']);
  });

  it("a 'reap' listener that closes the map while set() replaces a value: set() closes its value and throws HALFOPEN_ERR_REAPER_CLOSED", () => {
    // Before the fix set() stored c1 in the closed map: never closed, its timer re-armed.
    const { map, reaps, closes } = recording({ idleTimeoutMs: 10 });
    const c0 = new FakeConn('c0');
    const c1 = new FakeConn('c1');
    map.on('reap', (_key, conn) => {
      if (conn === c0) void map.close();
    });
    map.set('a', c0);
    expect(() => map.set('a', c1)).toThrow(
      expect.objectContaining({ code: 'HALFOPEN_ERR_REAPER_CLOSED' }),
    );
    expect(map.size).toBe(0);
    expect(reaps).toEqual(['a=c0:removed', 'a=c1:closed']);
    expect(closes).toEqual(['c0:removed', 'c1:closed']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('evicts an entry when its connection closes or ends, identity-checked', () => {
    const { map, reaps } = recording();
    const a1 = new FakeConn('a1');
    map.set('a', a1);
    a1.emit('end'); // the backend closed: without this the socket would sit in CLOSE_WAIT
    expect(reaps).toEqual(['a=a1:peer-closed']);
    const a2 = new FakeConn('a2');
    map.set('a', a2);
    a1.emit('close'); // the old one's late close must not remove the replacement
    expect(map.peek('a')).toBe(a2);
    expect(a1.listenerCount('close')).toBe(0);
  });

  it('retain reaps every key that left the live set', () => {
    const { map, reaps } = recording();
    for (const k of ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']) map.set(k, new FakeConn(k));
    expect(map.retain(['10.0.0.2:80'])).toBe(2);
    expect(reaps.sort()).toEqual([
      '10.0.0.1:80=10.0.0.1:80:removed',
      '10.0.0.3:80=10.0.0.3:80:removed',
    ]);
    expect([...['10.0.0.2:80']].every((k) => map.has(k))).toBe(true);
  });

  it('maxSize evicts the least recently used idle entry', () => {
    const { map, reaps } = recording({ maxSize: 2 });
    map.set('a', new FakeConn('a'));
    map.set('b', new FakeConn('b'));
    map.get('a');
    map.set('c', new FakeConn('c'));
    expect(reaps).toEqual(['b=b:capacity']);
  });

  it('the default close ends a socket-like value, then destroys it after graceMs', () => {
    const map = new ConnectionMap<string, FakeConn>({ now, graceMs: 500 });
    const c = new FakeConn('c');
    map.set('a', c);
    map.delete('a');
    expect(c.ended).toBe(1);
    expect(c.destroyed).toBe(false);
    vi.advanceTimersByTime(500);
    expect(c.destroyed).toBe(true);
  });

  it('closes a connection at most once, even when it is reaped under two keys', () => {
    const { map, closes } = recording();
    const shared = new FakeConn('s');
    map.set('a', shared);
    map.set('b', shared);
    map.delete('a');
    map.delete('b');
    expect(closes).toEqual(['s:removed']);
  });

  it('publishes every reap on halfopen:reaper:reap with its reason and ages', () => {
    const seen: unknown[] = [];
    const sub = (m: unknown) => seen.push(m);
    diagnostics.subscribe('halfopen:reaper:reap', sub);
    try {
      const { map } = recording({ idleTimeoutMs: 100, name: 'sdk' });
      map.set('a', new FakeConn('a'));
      vi.advanceTimersByTime(100);
      expect(seen).toEqual([
        expect.objectContaining({ map: 'sdk', key: 'a', reason: 'idle', ageMs: 100, idleMs: 100 }),
      ]);
    } finally {
      diagnostics.unsubscribe('halfopen:reaper:reap', sub);
    }
  });

  it('close() reaps everything, counts it, and stops the timer', async () => {
    const { map, closes } = recording({ idleTimeoutMs: 1000 });
    map.set('a', new FakeConn('a'));
    await map.acquire('a');
    await map.close();
    expect(closes).toEqual(['a:closed']);
    expect(map.stats()).toMatchObject({ size: 0, inUse: 0, reaped: { closed: 1 } });
    expect(vi.getTimerCount()).toBe(0);
    expect(() => map.set('b', new FakeConn('b'))).toThrow(/closed/);
  });

  it.each([
    [{ idleTimeoutMs: -1 }, RangeError, /options\.idleTimeoutMs/],
    [
      { lifetimeJitter: 2 },
      RangeError,
      /options\.lifetimeJitter must be a fraction within 0\.\.1, got 2/,
    ],
    [{ maxSize: 1.5 }, RangeError, /options\.maxSize/],
    [{ maxSize: 0 }, RangeError, /options\.maxSize must be an integer within 1\.\./],
    [{ idleTimeoutMS: 1000 }, TypeError, /options\.idleTimeoutMS is not an option.*idleTimeoutMs/],
    [{ graceMs: Number.POSITIVE_INFINITY }, RangeError, /options\.graceMs/],
    [{ name: 5 }, TypeError, /options\.name must be a string/],
    [{ close: 'end' }, TypeError, /options\.close must be a function/],
    [{ evictOnClose: 1 }, TypeError, /options\.evictOnClose/],
  ])('new ConnectionMap(%o) throws naming the option', (bad, Type, msg) => {
    expect(() => new ConnectionMap(bad as never)).toThrow(Type);
    expect(() => new ConnectionMap(bad as never)).toThrow(msg);
  });

  it('counts reaps per reason', () => {
    const { map } = recording({ idleTimeoutMs: 10 });
    map.set('a', new FakeConn('a'));
    map.set('b', new FakeConn('b'));
    map.delete('b');
    vi.advanceTimersByTime(10);
    const reaped: Partial<Record<ReapReason, number>> = map.stats().reaped;
    expect(reaped).toMatchObject({ idle: 1, removed: 1, lifetime: 0 });
  });
});
