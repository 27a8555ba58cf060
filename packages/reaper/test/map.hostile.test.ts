import { hostileOptions, isOptionError, misbehave, misbehaviour } from '@halfopen/testkit';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { ConnectionMap, type ConnectionMapStats } from '../src/index.js';
import { FakeConn as Conn, fakeTimeQuietWarnings } from './fake-conn.js';

// Arbitrary options and misbehaving factories, listeners and close callbacks, with closes while
// work is pending. Acceptable: a TypeError/RangeError naming an option at construction, or the
// documented behaviour. Never: an uncaught exception, an unhandled rejection (vitest fails the
// run on either), a promise pending after close, a negative counter, a leaked timer.

const KEYS = [
  'idleTimeoutMs',
  'maxLifetimeMs',
  'lifetimeJitter',
  'maxSize',
  'close',
  'graceMs',
  'evictOnClose',
  'name',
  'now',
  'random',
];
const valid = {
  idleTimeoutMs: fc.integer({ min: 0, max: 500 }),
  maxLifetimeMs: fc.integer({ min: 0, max: 500 }),
  lifetimeJitter: fc.double({ min: 0, max: 1, noNaN: true }),
  maxSize: fc.integer({ min: 1, max: 4 }),
  graceMs: fc.integer({ min: 0, max: 500 }),
  evictOnClose: fc.boolean(),
  name: fc.string({ maxLength: 8 }),
};

/** A socket-like value whose peer closes politely soon after our end(). */
class FakeConn extends Conn {
  constructor() {
    super('', true);
  }
}

fakeTimeQuietWarnings();

const sane = (s: ConnectionMapStats) => {
  for (const n of [s.size, s.inUse, s.closingOnRelease, ...Object.values(s.reaped)]) {
    expect(n).toBeGreaterThanOrEqual(0);
  }
};

/** Tracks promises so the test can assert that none is left pending. */
function tracker() {
  const pending = new Set<Promise<unknown>>();
  return {
    add<T>(p: Promise<T>) {
      const q: Promise<unknown> = p.then(
        (): boolean => pending.delete(q),
        (): boolean => pending.delete(q),
      );
      pending.add(q);
    },
    get pending() {
      return pending.size;
    },
  };
}

describe('ConnectionMap under hostile input (hostile)', () => {
  it('arbitrary options: a named option error, or a map that works and closes clean', async () => {
    await fc.assert(
      fc.asyncProperty(hostileOptions(KEYS, valid), async (options) => {
        vi.clearAllTimers();
        let map: ConnectionMap<string, FakeConn>;
        try {
          map = new ConnectionMap<string, FakeConn>(options as never);
        } catch (error) {
          expect(isOptionError(error, 'options')).toBe(true);
          return;
        }
        const promises = tracker();
        map.set('a', new FakeConn());
        map.set('b', new FakeConn());
        map.get('a');
        const lease = map.acquire('a', () => new FakeConn());
        promises.add(lease);
        promises.add(map.getOrCreate('c', () => new FakeConn()));
        await vi.advanceTimersByTimeAsync(100);
        sane(map.stats());
        map.retain(['a', 'c']);
        await vi.advanceTimersByTimeAsync(600);
        sane(map.stats());
        promises.add(map.getOrCreate('d', () => new Promise<FakeConn>(() => {})));
        await map.close();
        (await lease.catch(() => undefined))?.release();
        await vi.advanceTimersByTimeAsync(10);
        expect(promises.pending).toBe(0);
        expect(map.stats()).toMatchObject({ size: 0, inUse: 0, closingOnRelease: 0 });
        sane(map.stats());
        expect(vi.getTimerCount()).toBe(0);
      }),
    );
  });

  it('misbehaving factories, reap listeners and close callbacks, closed with work pending', async () => {
    await fc.assert(
      fc.asyncProperty(
        misbehaviour(),
        misbehaviour(),
        fc.option(misbehaviour(), { nil: undefined }),
        fc.integer({ min: 0, max: 200 }),
        async (factoryHow, listenerHow, closeHow, closeAfterMs) => {
          vi.clearAllTimers();
          const map = new ConnectionMap<string, unknown>({
            now: () => Date.now(),
            idleTimeoutMs: 50,
            maxLifetimeMs: 120,
            graceMs: 30,
            ...(closeHow ? { close: misbehave(closeHow, undefined) } : {}),
          });
          map.on('reap', misbehave(listenerHow, undefined));
          const promises = tracker();
          const errors: unknown[] = [];
          const factory = () => misbehave(factoryHow, new FakeConn())();
          for (const key of ['a', 'b']) {
            const got = map.getOrCreate(key, factory as never);
            promises.add(got);
            got.catch((e) => errors.push(e));
            const leased = map.acquire(key, factory as never);
            promises.add(leased);
            leased.then((l) => l.release()).catch((e) => errors.push(e));
          }
          map.set('c', new FakeConn());
          await vi.advanceTimersByTimeAsync(closeAfterMs);
          sane(map.stats());
          map.retain(['a']);
          await map.close();
          await vi.advanceTimersByTimeAsync(40);
          expect(promises.pending).toBe(0);
          expect(map.stats()).toMatchObject({ size: 0, inUse: 0, closingOnRelease: 0 });
          expect(vi.getTimerCount()).toBe(0);
          for (const e of errors) {
            // The factory's own failure, a value it returned that cannot be stored, or a
            // coded ReaperError: never anything thrown by the map's own bookkeeping.
            const code = (e as { code?: string }).code;
            const message = String((e as Error).message);
            expect(
              /^HALFOPEN_ERR_REAPER_(CLOSED|REAPED|REMOVED)$/.test(code ?? '') ||
                /hostile/.test(message) ||
                /factory for key .* returned/.test(message),
            ).toBe(true);
          }
        },
      ),
    );
  });
});
