import diagnostics from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { hostileOptions, isOptionError, misbehave, misbehaviour } from '@halfopen/testkit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type GuardOptions, guardServer, guardSocket, type SocketGuard } from '../src/index.js';
import { OPTION_KEYS } from '../src/options.js';
import { FakeSocket } from './fixtures/fake-socket.js';

// Hostile tier: arbitrary options and misbehaving user code. The only acceptable outcomes are a
// TypeError/RangeError naming an option at construction, or the documented behaviour; never an
// exception out of a timer, an unhandled rejection, a negative counter or a timer or listener
// left behind. Time is faked: the wheel's interval is counted by vi.getTimerCount().

const KEYS = OPTION_KEYS;
const small = fc.integer({ min: 1, max: 500 });
const VALID: Record<string, fc.Arbitrary<unknown>> = {
  firstByteMs: small,
  readIdleMs: small,
  pausedMaxMs: small,
  writeStallMs: small,
  halfClosedMs: small,
  maxAgeMs: small,
  resolutionMs: fc.integer({ min: 1, max: 50 }),
  maxAgeJitter: fc.double({ min: 0, max: 1, noNaN: true }),
  onTimeout: fc.constantFrom(
    () => 'ignore',
    () => 'destroy',
    () => undefined,
  ),
};

const errors: unknown[] = [];
const onError = (m: unknown) => errors.push(m);
beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
  diagnostics.subscribe('halfopen:idle-timeout:error', onError);
});
afterEach(() => {
  diagnostics.unsubscribe('halfopen:idle-timeout:error', onError);
  vi.useRealTimers();
});

/** Drives a fake socket through reads, pauses, writes and a FIN over `ms` of fake time. */
function drive(socket: FakeSocket, ms: number): void {
  for (let t = 0; t < ms && !socket.destroyed; t += 25) {
    if (t % 100 === 0) socket.receive(1);
    if (t === 100) socket.pause();
    if (t === 200) socket.write(10_000);
    if (t === 300) socket.resume();
    if (t === 400) socket.fin();
    vi.advanceTimersByTime(25);
  }
}

function assertClean(socket: FakeSocket, guard: SocketGuard | undefined, timersBefore: number) {
  guard?.dispose();
  expect(guard?.disposed ?? true).toBe(true);
  expect(socket.listenerCount('close')).toBe(0);
  expect(vi.getTimerCount()).toBe(timersBefore);
}

describe('guardSocket under arbitrary options', () => {
  it('throws an error naming an option, or guards and cleans up', () => {
    fc.assert(
      fc.property(hostileOptions(KEYS, VALID), (options) => {
        const before = vi.getTimerCount();
        const socket = new FakeSocket();
        socket.on('error', () => {});
        let guard: SocketGuard | undefined;
        try {
          guard = guardSocket(socket.asSocket(), options as GuardOptions);
        } catch (error) {
          expect(isOptionError(error, 'options')).toBe(true);
          expect(socket.listenerCount('close')).toBe(0);
          expect(vi.getTimerCount()).toBe(before);
          return;
        }
        drive(socket, 600);
        const stats = guard.stats();
        for (const v of [
          stats.ageMs,
          stats.readIdleForMs,
          stats.writeStalledForMs,
          stats.maxAgeMs,
        ]) {
          expect(Number.isNaN(v)).toBe(false);
        }
        assertClean(socket, guard, before);
      }),
    );
  });
});

describe('misbehaving user code', () => {
  it('onTimeout that throws, rejects, never settles or returns garbage: destroy, reported, no re-fire', async () => {
    await fc.assert(
      fc.asyncProperty(misbehaviour(), fc.constantFrom('ignore', 'destroy'), async (how, value) => {
        errors.length = 0;
        const before = vi.getTimerCount();
        const socket = new FakeSocket();
        socket.on('error', () => {});
        let calls = 0;
        const bad = misbehave(how, value);
        const guard = guardSocket(socket.asSocket(), {
          readIdleMs: 50,
          resolutionMs: 10,
          now: () => Date.now(),
          onTimeout: () => {
            calls++;
            return bad() as never;
          },
        });
        vi.advanceTimersByTime(200);
        await vi.advanceTimersByTimeAsync(0); // let rejections reach the error channel
        const ignored = how === 'returns' && value === 'ignore';
        expect(socket.destroyed).toBe(!ignored);
        if (!ignored) expect(calls).toBe(1);
        if (how === 'throws' || how === 'rejects' || how === 'then-throws') {
          expect(errors).toEqual([expect.objectContaining({ during: 'onTimeout' })]);
        }
        assertClean(socket, guard, before);
      }),
      { numRuns: 60 }, // 6 misbehaviours x 2 values
    );
  });

  it('a clock that later throws or returns garbage: reported, time stands still, nothing escapes', () => {
    fc.assert(
      fc.property(misbehaviour(), (how) => {
        errors.length = 0;
        const before = vi.getTimerCount();
        let good = true;
        const bad = misbehave(how, 5);
        const now = () => (good ? Date.now() : (bad() as number));
        const socket = new FakeSocket();
        const guard = guardSocket(socket.asSocket(), { readIdleMs: 100, resolutionMs: 10, now });
        good = false;
        vi.advanceTimersByTime(500);
        if (how === 'returns')
          expect(socket.destroyed).toBe(false); // a constant clock
        else expect(errors.length).toBeGreaterThan(0);
        expect(() => guard.stats()).not.toThrow();
        assertClean(socket, guard, before);
      }),
      { numRuns: 30 }, // 6 misbehaviours
    );
  });

  it('a random source that misbehaves: the jitter counts as 0 and the guard works', () => {
    fc.assert(
      fc.property(misbehaviour(), (how) => {
        const before = vi.getTimerCount();
        const socket = new FakeSocket();
        const guard = guardSocket(socket.asSocket(), {
          maxAgeMs: 100,
          maxAgeJitter: 0.5,
          resolutionMs: 10,
          now: () => Date.now(),
          random: misbehave(how, 0.5) as () => number,
        });
        const cap = guard.stats().maxAgeMs;
        expect(cap === 75 || cap === 100).toBe(true);
        vi.advanceTimersByTime(120);
        expect(socket.destroyed).toBe(true);
        assertClean(socket, guard, before);
      }),
      { numRuns: 30 }, // 6 misbehaviours
    );
  });

  it('guard listeners that misbehave: every connection is guarded, the server never sees a throw', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(misbehaviour(), { minLength: 1, maxLength: 3 }), async (hows) => {
        const before = vi.getTimerCount();
        const source = new EventEmitter();
        const guard = guardServer(source as never, { firstByteMs: 50, resolutionMs: 10 });
        for (const how of hows) guard.on('guard', misbehave(how, undefined));
        const sockets = [new FakeSocket(), new FakeSocket()];
        for (const s of sockets) {
          s.on('error', () => {});
          expect(() => source.emit('connection', s.asSocket())).not.toThrow();
        }
        await vi.advanceTimersByTimeAsync(0);
        expect(guard.stats().active).toBe(2);
        vi.advanceTimersByTime(100);
        expect(sockets.every((s) => s.destroyed)).toBe(true);
        await vi.advanceTimersByTimeAsync(0);
        const stats = guard.stats();
        expect(stats).toMatchObject({ active: 0, guarded: 2, destroyed: { 'first-byte': 2 } });
        guard.dispose();
        expect(vi.getTimerCount()).toBe(before);
      }),
      { numRuns: 200 }, // up to 3 listeners of 6 kinds
    );
  });
});
