import diagnostics from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type GuardOptions,
  guardSocket,
  IdleTimeoutError,
  type SocketGuard,
  type TimeoutInfo,
} from '../src/index.js';
import { FakeSocket } from './fixtures/fake-socket.js';

const now = () => Date.now(); // faked by vi.useFakeTimers
const opts = (o: GuardOptions): GuardOptions => ({ now, resolutionMs: 10, ...o });

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
const made: SocketGuard[] = [];
afterEach(() => {
  // Guards left on a wheel would keep its (fake) interval; every test disposes what it made.
  for (const g of made.splice(0)) g.dispose();
  vi.useRealTimers();
});
const track = (g: SocketGuard) => {
  made.push(g);
  return g;
};

function guarded(o: GuardOptions) {
  const socket = new FakeSocket();
  const errors: Error[] = [];
  socket.on('error', (e) => errors.push(e));
  const guard = track(guardSocket(socket.asSocket(), opts(o)));
  return { socket, guard, errors };
}

describe('option validation', () => {
  it.each([
    [
      { readIdleMs: '100' },
      TypeError,
      /options\.readIdleMs must be a number \(milliseconds\).*"100"/,
    ],
    [{ firstByteMs: -1 }, RangeError, /options\.firstByteMs must be milliseconds within 0\.\..*-1/],
    [{ writeStallMs: Number.NaN }, TypeError, /options\.writeStallMs/],
    [{ maxAgeMs: Number.POSITIVE_INFINITY }, RangeError, /options\.maxAgeMs/],
    // Past 2^31-1 a Node timer fires after 1 ms: every time option is refused there.
    [{ readIdleMs: 2 ** 31 }, RangeError, /options\.readIdleMs .*2147483647.*2147483648/],
    [{ readIdleMs: 10, resolutionMs: 2 ** 31 }, RangeError, /options\.resolutionMs .*2147483648/],
    [
      { readIdleMs: 10, resolutionMs: 0.5 },
      RangeError,
      /options\.resolutionMs must be milliseconds within 1\.\./,
    ],
    // Units are what the option really is, not "milliseconds".
    [
      { maxAgeMs: 10, maxAgeJitter: 1.5 },
      RangeError,
      /options\.maxAgeJitter must be a fraction within 0\.\.1, got 1\.5/,
    ],
    [
      { writeStallMs: 10, minDrainBytesPerSec: -1 },
      RangeError,
      /options\.minDrainBytesPerSec must be bytes per second/,
    ],
    [
      { readIdleMs: 10, minReadBytesPerSec: '9' },
      TypeError,
      /options\.minReadBytesPerSec must be a number \(bytes per second\)/,
    ],
    [
      { writeStallMs: 10, sendBufferBytes: 0 },
      RangeError,
      /options\.sendBufferBytes must be a whole number of bytes/,
    ],
    [{ minReadBytesPerSec: 10 }, RangeError, /minReadBytesPerSec needs options\.readIdleMs/],
    [{ minDrainBytesPerSec: 10 }, RangeError, /minDrainBytesPerSec needs options\.writeStallMs/],
    [{ readIdleMs: 10, onTimeout: 'destroy' }, TypeError, /options\.onTimeout must be a function/],
    // A typo is not a guard with no deadline.
    [
      { readIdleMS: 100 },
      TypeError,
      /options\.readIdleMS is not an option \(did you mean options\.readIdleMs\?\)/,
    ],
    [
      { readIdleMs: 10, now: () => Number.NaN },
      TypeError,
      /options\.now must return a finite number/,
    ],
    [
      {
        readIdleMs: 10,
        now: () => {
          throw new Error('no clock');
        },
      },
      TypeError,
      /options\.now threw/,
    ],
  ])('rejects %o with a %s naming the option', (bad, Type, message) => {
    const socket = new FakeSocket();
    expect(() => guardSocket(socket.asSocket(), bad as GuardOptions)).toThrow(Type);
    expect(() => guardSocket(socket.asSocket(), bad as GuardOptions)).toThrow(message);
    expect(socket.listenerCount('close')).toBe(0); // nothing armed
  });

  it('refuses a key added to an options object after it was first used', () => {
    const options: Record<string, unknown> = { readIdleMs: 100 };
    track(guardSocket(new FakeSocket().asSocket(), opts(options)));
    const shared = opts(options);
    track(guardSocket(new FakeSocket().asSocket(), shared));
    (shared as Record<string, unknown>).firstByteMS = 5;
    expect(() => guardSocket(new FakeSocket().asSocket(), shared)).toThrow(
      /options\.firstByteMS is not an option/,
    );
  });

  it('rejects something that is not a socket', () => {
    expect(() => guardSocket({} as never, { readIdleMs: 10 })).toThrow(TypeError);
    expect(() => guardSocket(new FakeSocket().asSocket(), null as never)).toThrow(
      /options must be an object, got null/,
    );
  });
});

describe('firstByteMs', () => {
  it('destroys a socket that received nothing, with a typed error carrying the context', async () => {
    const { socket, errors } = guarded({ firstByteMs: 100 });
    vi.advanceTimersByTime(90);
    expect(socket.destroyed).toBe(false);
    vi.advanceTimersByTime(20);
    expect(socket.destroyed).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    const err = errors[0] as IdleTimeoutError;
    expect(err).toBeInstanceOf(IdleTimeoutError);
    expect(err).toMatchObject({
      code: 'HALFOPEN_ERR_FIRST_BYTE_TIMEOUT',
      reason: 'first-byte',
      limitMs: 100,
      remoteAddress: '127.0.0.1',
      remotePort: 40000,
      bytesRead: 0,
    });
    expect(err.elapsedMs).toBeGreaterThanOrEqual(100);
    expect(err.message).toMatch(/no byte received within 100 ms .* 127\.0\.0\.1:40000/);
  });

  it('is satisfied by the first byte', () => {
    const { socket } = guarded({ firstByteMs: 100 });
    vi.advanceTimersByTime(50);
    socket.receive(1);
    vi.advanceTimersByTime(500);
    expect(socket.destroyed).toBe(false);
  });
});

describe('readIdleMs', () => {
  it('destroys after no byte for the limit, and each byte restarts it', () => {
    const { socket, errors } = guarded({ readIdleMs: 100 });
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(60);
      socket.receive(5);
    }
    expect(socket.destroyed).toBe(false);
    vi.advanceTimersByTime(110);
    expect(socket.destroyed).toBe(true);
    expect(socket.destroyError).toMatchObject({ code: 'HALFOPEN_ERR_READ_IDLE', bytesRead: 50 });
    expect(errors).toHaveLength(0); // emitted asynchronously, as net.Socket does
  });

  it('does not count time during which reading was paused', () => {
    const { socket } = guarded({ readIdleMs: 100 });
    vi.advanceTimersByTime(50);
    socket.pause();
    vi.advanceTimersByTime(1000);
    expect(socket.destroyed).toBe(false);
    socket.resume();
    // 50 ms read before the pause (60 as sampled: the tick at 60 saw it paused first), then 35.
    vi.advanceTimersByTime(35);
    expect(socket.destroyed).toBe(false);
    vi.advanceTimersByTime(10);
    expect(socket.destroyError).toMatchObject({ code: 'HALFOPEN_ERR_READ_IDLE' });
  });

  it('caps paused time with pausedMaxMs', () => {
    const { socket } = guarded({ readIdleMs: 100, pausedMaxMs: 300 });
    socket.pause();
    vi.advanceTimersByTime(290);
    expect(socket.destroyed).toBe(false);
    vi.advanceTimersByTime(30);
    expect(socket.destroyError).toMatchObject({
      code: 'HALFOPEN_ERR_PAUSED_TOO_LONG',
      limitMs: 300,
    });
  });

  it('with minReadBytesPerSec cuts a trickler and spares a steady sender', () => {
    const trickler = guarded({ readIdleMs: 1000, minReadBytesPerSec: 100 });
    const steady = guarded({ readIdleMs: 1000, minReadBytesPerSec: 100 });
    for (let t = 0; t < 30; t++) {
      vi.advanceTimersByTime(100);
      trickler.socket.receive(1); // 10 B/s
      steady.socket.receive(12); // 120 B/s
    }
    expect(trickler.socket.destroyError).toMatchObject({ code: 'HALFOPEN_ERR_READ_IDLE' });
    expect(steady.socket.destroyed).toBe(false);
  });

  it('stops after the peer sent FIN (half-closed takes over)', () => {
    const { socket } = guarded({ readIdleMs: 100 });
    socket.fin();
    vi.advanceTimersByTime(1000);
    expect(socket.destroyed).toBe(false);
  });
});

describe('resetReadIdle()', () => {
  // For the clients Agent (hostile review, M1): a pooled socket's read-idle window keeps
  // running (its onTimeout says 'ignore'), so a request on it had anything from 0 to readIdleMs.
  it('gives the next exchange a whole read-idle window', () => {
    const { socket, guard } = guarded({ readIdleMs: 100, onTimeout: () => 'ignore' });
    vi.advanceTimersByTime(180); // fired and re-armed at 100: 80 ms into the window
    guard.resetReadIdle();
    vi.advanceTimersByTime(90);
    expect(guard.stats().readIdleForMs).toBe(90);
    guard.dispose();
    const cut = guarded({ readIdleMs: 100 });
    vi.advanceTimersByTime(80);
    cut.guard.resetReadIdle();
    vi.advanceTimersByTime(90);
    expect(cut.socket.destroyed).toBe(false);
    vi.advanceTimersByTime(20);
    expect(cut.socket.destroyError).toMatchObject({ code: 'HALFOPEN_ERR_READ_IDLE' });
    cut.guard.resetReadIdle(); // disposed: nothing to do, no throw
    expect(socket.destroyed).toBe(false);
  });
});

describe('writeStallMs', () => {
  it('destroys when bytes wait and the kernel takes none, even while the peer keeps sending', () => {
    const { socket } = guarded({ writeStallMs: 200 });
    socket.write(1_000_000);
    for (let i = 0; i < 25; i++) {
      vi.advanceTimersByTime(10);
      socket.receive(1); // incoming traffic does not hide the stall
    }
    expect(socket.destroyError).toMatchObject({
      code: 'HALFOPEN_ERR_WRITE_STALL',
      limitMs: 200,
      pendingBytes: 1_000_000,
    });
  });

  it('never fires while nothing waits to be sent', () => {
    const { socket } = guarded({ writeStallMs: 100 });
    vi.advanceTimersByTime(5000);
    expect(socket.destroyed).toBe(false);
  });

  it('spares a reader draining in kernel-sized bursts at or above the rate', () => {
    // 64 KiB send buffer: bursts of up to half of it; window 500 ms + 32 KiB at 64 KiB/s = 1 s.
    const { socket, guard } = guarded({
      writeStallMs: 500,
      minDrainBytesPerSec: 65536,
      sendBufferBytes: 65536,
    });
    expect(guard.stats().writeWindowMs).toBe(1000);
    socket.write(10_000_000);
    for (let i = 0; i < 40; i++) {
      vi.advanceTimersByTime(250); // 21.8 KiB every 250 ms = 87 KiB/s, in bursts
      socket.drain(22_300);
    }
    expect(socket.destroyed).toBe(false);
  });

  it('cuts a reader draining below the rate', () => {
    const { socket } = guarded({
      writeStallMs: 500,
      minDrainBytesPerSec: 65536,
      sendBufferBytes: 65536,
    });
    socket.write(10_000_000);
    for (let i = 0; i < 40 && !socket.destroyed; i++) {
      vi.advanceTimersByTime(250);
      if (!socket.destroyed) socket.drain(4000); // 16 KB/s
    }
    expect(socket.destroyError).toMatchObject({ code: 'HALFOPEN_ERR_WRITE_STALL', limitMs: 1000 });
  });
});

describe('halfClosedMs and maxAgeMs', () => {
  it('destroys a socket left open after the peer FIN', () => {
    const { socket } = guarded({ halfClosedMs: 100 });
    vi.advanceTimersByTime(500);
    socket.fin();
    vi.advanceTimersByTime(90);
    expect(socket.destroyed).toBe(false);
    vi.advanceTimersByTime(20);
    expect(socket.destroyError).toMatchObject({ code: 'HALFOPEN_ERR_HALF_CLOSED' });
  });

  it('caps lifetime, jittered per socket', () => {
    const a = track(
      guardSocket(
        new FakeSocket().asSocket(),
        opts({ maxAgeMs: 1000, maxAgeJitter: 0.5, random: () => 0 }),
      ),
    );
    const b = track(
      guardSocket(
        new FakeSocket().asSocket(),
        opts({ maxAgeMs: 1000, maxAgeJitter: 0.5, random: () => 0.999 }),
      ),
    );
    expect(a.stats().maxAgeMs).toBe(1000);
    expect(b.stats().maxAgeMs).toBe(500);
    vi.advanceTimersByTime(520);
    expect(a.socket.destroyed).toBe(false);
    expect(b.socket.destroyed).toBe(true);
    expect(b.stats().destroyedBy).toMatchObject({ code: 'HALFOPEN_ERR_MAX_AGE', limitMs: 500 });
    vi.advanceTimersByTime(500);
    expect(a.socket.destroyed).toBe(true);
  });
});

describe('onTimeout', () => {
  it('can ignore the first read-idle (to ping) and destroy on the next', () => {
    const seen: TimeoutInfo[] = [];
    const { socket } = guarded({
      readIdleMs: 100,
      onTimeout: (info) => {
        seen.push(info);
        return info.count < 2 ? 'ignore' : 'destroy';
      },
    });
    vi.advanceTimersByTime(110);
    expect(seen.map((i) => i.count)).toEqual([1]);
    expect(socket.destroyed).toBe(false);
    vi.advanceTimersByTime(100);
    expect(seen.map((i) => i.count)).toEqual([1, 2]);
    expect(socket.destroyError).toMatchObject({ code: 'HALFOPEN_ERR_READ_IDLE', count: 2 });
  });

  it('resets the count when the peer answers', () => {
    const counts: number[] = [];
    const { socket } = guarded({
      readIdleMs: 100,
      onTimeout: (i) => {
        counts.push(i.count);
        return 'ignore';
      },
    });
    vi.advanceTimersByTime(110);
    socket.receive(1);
    vi.advanceTimersByTime(110);
    expect(counts).toEqual([1, 1]);
  });

  it('an onTimeout that throws destroys, is reported once, and the other guards are still checked', () => {
    // Regression (issue 13, finding 7): before, the observer of timeouts that threw (the
    // 'timeout' event listener) escaped into the wheel's tick: the socket stayed open, the
    // deadline re-fired every tick, and guards later in the tick were never checked.
    const reported: unknown[] = [];
    const sub = (m: unknown) => reported.push(m);
    diagnostics.subscribe('halfopen:idle-timeout:error', sub);
    try {
      let calls = 0;
      const other = guarded({ readIdleMs: 50 }); // added first: checked after the thrower
      const bad = guarded({
        readIdleMs: 50,
        onTimeout: () => {
          calls++;
          throw new Error('bug');
        },
      });
      vi.advanceTimersByTime(60);
      expect(bad.socket.destroyed).toBe(true);
      expect(other.socket.destroyed).toBe(true);
      vi.advanceTimersByTime(100);
      expect(calls).toBe(1);
      expect(reported).toEqual([
        expect.objectContaining({
          during: 'onTimeout',
          socket: bad.socket,
          error: expect.any(Error),
        }),
      ]);
    } finally {
      diagnostics.unsubscribe('halfopen:idle-timeout:error', sub);
    }
  });

  it('an onTimeout returning a promise or garbage destroys (only the string ignore keeps the socket)', async () => {
    const rejects = guarded({
      readIdleMs: 50,
      onTimeout: () => Promise.reject(new Error('no')) as never,
    });
    const garbage = guarded({ readIdleMs: 50, onTimeout: () => 42 as never });
    vi.advanceTimersByTime(60);
    await vi.advanceTimersByTimeAsync(0);
    expect(rejects.socket.destroyed).toBe(true);
    expect(garbage.socket.destroyed).toBe(true);
  });

  it('receives the socket with the info', () => {
    const seen: unknown[] = [];
    const { socket } = guarded({ firstByteMs: 50, onTimeout: (_info, s) => void seen.push(s) });
    vi.advanceTimersByTime(60);
    expect(seen).toEqual([socket]);
  });
});

describe('the clock rebase (every 2^29 ms, about 6.2 days)', () => {
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;

  it('keeps a pause and a FIN already under way, and max age', () => {
    // Regression (issue 13, finding 7): times are rebased to keep them small integers, and a
    // pause or FIN older than the rebase used to restart from the rebase (a 10-day paused cap
    // fired 6.2 days late). Fake time moves in 1-hour ticks, so 11 days are 264 ticks.
    const paused = guarded({ pausedMaxMs: 10 * DAY, resolutionMs: HOUR });
    const closed = guarded({ halfClosedMs: 10 * DAY, resolutionMs: HOUR });
    const old = guarded({ maxAgeMs: 10 * DAY, resolutionMs: HOUR });
    vi.advanceTimersByTime(DAY);
    paused.socket.pause();
    paused.socket.bufferFull(); // so the code before the fix saw this pause too
    closed.socket.fin();
    vi.advanceTimersByTime(HOUR); // both seen at this tick: day 1 + 1 h
    vi.advanceTimersByTime(9 * DAY - 2 * HOUR); // the rebase passed at ~6.2 days
    expect(old.socket.destroyed).toBe(false);
    expect(paused.socket.destroyed).toBe(false);
    vi.advanceTimersByTime(HOUR); // day 10: max age
    expect(old.socket.destroyError).toMatchObject({ code: 'HALFOPEN_ERR_MAX_AGE' });
    vi.advanceTimersByTime(DAY); // day 11
    expect(paused.socket.destroyed).toBe(false);
    expect(closed.socket.destroyed).toBe(false);
    vi.advanceTimersByTime(HOUR); // day 11 + 1 h: ten days after the pause and the FIN were seen
    expect(paused.socket.destroyError).toMatchObject({
      code: 'HALFOPEN_ERR_PAUSED_TOO_LONG',
      elapsedMs: 10 * DAY,
    });
    expect(closed.socket.destroyError).toMatchObject({
      code: 'HALFOPEN_ERR_HALF_CLOSED',
      elapsedMs: 10 * DAY,
    });
  });
});

describe('lifecycle', () => {
  it('fires at most once, calls onTimeout and publishes on the diagnostics channel', () => {
    const published: unknown[] = [];
    const sub = (m: unknown) => published.push(m);
    diagnostics.subscribe('halfopen:idle-timeout:timeout', sub);
    try {
      const events: string[] = [];
      const { socket, guard } = guarded({
        firstByteMs: 50,
        readIdleMs: 50,
        onTimeout: (info) => void events.push(info.reason),
      });
      vi.advanceTimersByTime(500);
      expect(events).toEqual(['first-byte']);
      expect(socket.destroyCalls).toBe(1);
      expect(published).toEqual([
        expect.objectContaining({
          action: 'destroy',
          socket,
          info: expect.objectContaining({ reason: 'first-byte' }),
        }),
      ]);
      expect(guard.disposed).toBe(true);
      expect(guard.stats().destroyedBy?.code).toBe('HALFOPEN_ERR_FIRST_BYTE_TIMEOUT');
    } finally {
      diagnostics.unsubscribe('halfopen:idle-timeout:timeout', sub);
    }
  });

  it('never fires after dispose, and leaves no timer or listener behind', () => {
    // getActiveResourcesInfo() omits unref'd timers; the fake clock counts every timer.
    const timers = () => vi.getTimerCount();
    const before = timers();
    const socket = new FakeSocket();
    const guard = guardSocket(socket.asSocket(), opts({ readIdleMs: 20, resolutionMs: 7 }));
    expect(socket.listenerCount('close')).toBe(1);
    expect(timers()).toBe(before + 1); // one shared timer for the wheel
    guard.dispose();
    guard.dispose(); // idempotent
    expect(socket.listenerCount('close')).toBe(0);
    expect(timers()).toBe(before);
    vi.advanceTimersByTime(100);
    expect(socket.destroyed).toBe(false);
  });

  it('disposes itself when the socket closes', async () => {
    const { socket, guard } = guarded({ readIdleMs: 100 });
    socket.destroy();
    await vi.advanceTimersByTimeAsync(0);
    expect(guard.disposed).toBe(true);
    expect(socket.listenerCount('close')).toBe(0);
  });

  it('does not destroy twice when the application destroys the socket in the same tick', async () => {
    const socket = new FakeSocket();
    socket.on('error', () => {});
    const guard = track(
      guardSocket(
        socket.asSocket(),
        opts({ firstByteMs: 50, onTimeout: () => void socket.destroy() }),
      ),
    );
    vi.advanceTimersByTime(60);
    expect(socket.destroyCalls).toBe(2); // the application's, then the guard's no-op
    await vi.advanceTimersByTimeAsync(0);
    expect(guard.disposed).toBe(true);
  });

  it('is born disposed on a socket that is already destroyed', () => {
    const socket = new FakeSocket();
    socket.destroyed = true;
    const guard = guardSocket(socket.asSocket(), opts({ readIdleMs: 10 }));
    expect(guard.disposed).toBe(true);
    expect(socket.listenerCount('close')).toBe(0);
  });

  it('a newer guard replaces the previous one on the same socket', () => {
    const socket = new FakeSocket();
    const first = track(guardSocket(socket.asSocket(), opts({ readIdleMs: 50 })));
    const second = track(guardSocket(socket.asSocket(), opts({ readIdleMs: 500 })));
    expect(first.disposed).toBe(true);
    expect(socket.listenerCount('close')).toBe(1);
    vi.advanceTimersByTime(200);
    expect(socket.destroyed).toBe(false);
    second.dispose();
  });

  it('destroys without an error when nobody listens for one, so the process does not crash', async () => {
    const socket = new FakeSocket();
    const guard = track(guardSocket(socket.asSocket(), opts({ firstByteMs: 20 })));
    vi.advanceTimersByTime(30);
    await vi.advanceTimersByTimeAsync(0);
    expect(socket.destroyed).toBe(true);
    expect(socket.destroyError).toBeUndefined();
    expect(guard.stats().destroyedBy?.reason).toBe('first-byte');
  });
});
