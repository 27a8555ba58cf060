import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  type GuardOptions,
  guardSocket,
  type SocketGuard,
  type TimeoutReason,
} from '../src/index.js';
import { FakeSocket } from './fixtures/fake-socket.js';

// The reference model: the guard's deadlines stated over what the socket shows at each tick
// of the shared timer (every RES ms from the start). Between ticks the commands change the
// socket; at a tick the model decides, in a fixed order, whether a deadline passed.
const RES = 10;
const SNDBUF = 4096;

interface Config {
  firstByteMs: number;
  readIdleMs: number;
  minReadBytesPerSec: number;
  pausedMaxMs: number;
  writeStallMs: number;
  minDrainBytesPerSec: number;
  halfClosedMs: number;
  maxAgeMs: number;
}

class Model {
  t = 0;
  // what the socket shows
  bytesRead = 0;
  reading = true;
  written = 0;
  pending = 0;
  ended = false;
  // what the spec remembers between ticks
  firstByteSeen = false;
  readBase = 0;
  idleMs = 0; // reading time with too little received
  pausedAt = -1;
  wasPaused = false;
  writeBase = 0;
  stallSince = 0;
  endedAt = -1;
  fired: Array<{ reason: TimeoutReason; at: number }> = [];
  disposed = false;
  readonly minReadBytes: number;
  readonly minWriteBytes: number;
  readonly writeWindowMs: number;

  constructor(readonly c: Config) {
    this.minReadBytes = Math.max(1, Math.ceil((c.minReadBytesPerSec * c.readIdleMs) / 1000));
    this.minWriteBytes = Math.max(1, Math.ceil((c.minDrainBytesPerSec * c.writeStallMs) / 1000));
    this.writeWindowMs =
      c.writeStallMs > 0
        ? c.writeStallMs +
          (c.minDrainBytesPerSec > 0 ? ((SNDBUF / 2) * 1000) / c.minDrainBytesPerSec : 0)
        : 0;
  }

  get done(): boolean {
    return this.disposed || this.fired.length > 0;
  }

  advance(ms: number): void {
    const end = this.t + ms;
    for (let tick = (Math.floor(this.t / RES) + 1) * RES; tick <= end && !this.done; tick += RES) {
      this.tick(tick);
    }
    this.t = end;
  }

  private fire(reason: TimeoutReason, at: number): void {
    this.fired.push({ reason, at });
  }

  private tick(now: number): void {
    const c = this.c;
    const dt = RES;
    if (!this.firstByteSeen) {
      if (this.bytesRead > 0) this.firstByteSeen = true;
      else if (c.firstByteMs > 0 && now >= c.firstByteMs) {
        this.fire('first-byte', now);
        return;
      }
    }
    if (!this.ended && (c.readIdleMs > 0 || c.pausedMaxMs > 0)) {
      const paused = !this.reading;
      if (!(paused && this.wasPaused)) this.idleMs += dt;
      if (paused && this.pausedAt < 0) this.pausedAt = now;
      this.wasPaused = paused;
      if (this.bytesRead - this.readBase >= this.minReadBytes) {
        this.readBase = this.bytesRead;
        this.idleMs = 0;
      }
      if (paused) {
        if (c.pausedMaxMs > 0 && now - this.pausedAt >= c.pausedMaxMs) {
          this.fire('paused', now);
          return;
        }
      } else {
        this.pausedAt = -1;
        if (c.readIdleMs > 0 && this.idleMs >= c.readIdleMs) {
          this.fire('read-idle', now);
          return;
        }
      }
    }
    if (this.writeWindowMs > 0) {
      const delivered = this.written - this.pending;
      if (this.pending === 0 || delivered - this.writeBase >= this.minWriteBytes) {
        this.writeBase = delivered;
        this.stallSince = now;
      } else if (now - this.stallSince >= this.writeWindowMs) {
        this.fire('write-stall', now);
        return;
      }
    }
    if (this.ended) {
      if (this.endedAt < 0) this.endedAt = now;
      if (c.halfClosedMs > 0 && now - this.endedAt >= c.halfClosedMs) {
        this.fire('half-closed', now);
        return;
      }
    }
    if (c.maxAgeMs > 0 && now >= c.maxAgeMs) this.fire('max-age', now);
  }
}

interface Real {
  socket: FakeSocket;
  guard: SocketGuard;
  fired: Array<{ reason: TimeoutReason; at: number }>;
}
type Cmd = fc.Command<Model, Real>;

const cmd = (name: string, apply: (m: Model, r: Real) => void): Cmd => ({
  check: () => true,
  run(m, r) {
    apply(m, r);
    expect(r.fired).toEqual(m.fired);
    expect(r.socket.destroyCalls).toBe(m.fired.length);
    expect(r.guard.disposed).toBe(m.done);
  },
  toString: () => name,
});

const advance = fc
  .oneof(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 30, max: 250 }))
  .map((ms) =>
    cmd(`advance(${ms})`, (m) => {
      m.advance(ms);
      vi.advanceTimersByTime(ms);
    }),
  );
const receive = fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 60 })).map((n) =>
  cmd(`receive(${n})`, (m, r) => {
    if (r.socket.destroyed) return;
    m.bytesRead += n;
    r.socket.receive(n);
  }),
);
const pauseResume = fc.boolean().map((pause) =>
  cmd(pause ? 'pause' : 'resume', (m, r) => {
    if (r.socket.destroyed) return;
    m.reading = !pause;
    if (pause) r.socket.pause();
    else r.socket.resume();
  }),
);
const write = fc.integer({ min: 1, max: 3000 }).map((n) =>
  cmd(`write(${n})`, (m, r) => {
    if (r.socket.destroyed) return;
    m.written += n;
    m.pending += n;
    r.socket.write(n);
  }),
);
const drain = fc
  .oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3000 }))
  .map((n) =>
    cmd(`drain(${n})`, (m, r) => {
      if (r.socket.destroyed) return;
      m.pending = Math.max(0, m.pending - n);
      r.socket.drain(n);
    }),
  );
const fin = fc.constant(
  cmd('fin', (m, r) => {
    if (r.socket.destroyed) return;
    m.ended = true;
    r.socket.fin();
  }),
);
const dispose = fc.constant(
  cmd('dispose', (m, r) => {
    if (!m.done) m.disposed = true;
    r.guard.dispose();
  }),
);

const off: Config = {
  firstByteMs: 0,
  readIdleMs: 0,
  minReadBytesPerSec: 0,
  pausedMaxMs: 0,
  writeStallMs: 0,
  minDrainBytesPerSec: 0,
  halfClosedMs: 0,
  maxAgeMs: 0,
};
// Mostly off, so that runs often have one or two deadlines whose edges get explored.
const deadline = fc.oneof(
  { arbitrary: fc.constant(0), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 400 }), weight: 3 },
);
const rate = (max: number) => fc.oneof(fc.constant(0), fc.integer({ min: 1, max }));
const readConfig = fc
  .record({
    firstByteMs: deadline,
    readIdleMs: deadline,
    minReadBytesPerSec: rate(500),
    pausedMaxMs: deadline,
    halfClosedMs: deadline,
  })
  .map(
    (c): Config => ({
      ...off,
      ...c,
      minReadBytesPerSec: c.readIdleMs > 0 ? c.minReadBytesPerSec : 0,
    }),
  );
const writeConfig = fc
  .record({
    writeStallMs: fc.integer({ min: 1, max: 400 }),
    minDrainBytesPerSec: rate(50_000),
    maxAgeMs: deadline,
  })
  .map((c): Config => ({ ...off, ...c }));
const anyConfig = fc
  .tuple(readConfig, writeConfig)
  .map(([r, w]) => ({ ...r, ...w, firstByteMs: r.firstByteMs, halfClosedMs: r.halfClosedMs }));

function agreesWithModel(config: fc.Arbitrary<Config>, commands: Array<fc.Arbitrary<Cmd>>) {
  return fc.property(
    config,
    fc.commands(commands, { maxCommands: 80, size: 'medium' }),
    (c, cmds) => {
      vi.useFakeTimers({ now: 0 });
      const socket = new FakeSocket();
      socket.on('error', () => {});
      const fired: Real['fired'] = [];
      const options: GuardOptions = {
        ...c,
        sendBufferBytes: SNDBUF,
        resolutionMs: RES,
        now: () => Date.now(),
        onTimeout: (info) => {
          fired.push({ reason: info.reason, at: Date.now() });
        },
      };
      const guard = guardSocket(socket.asSocket(), options);
      try {
        fc.modelRun(() => ({ model: new Model(c), real: { socket, guard, fired } }), cmds);
      } finally {
        guard.dispose();
        vi.useRealTimers();
      }
    },
  );
}

// Each property: the guard fires exactly when the model says a deadline passed, with the
// same reason at the same tick, at most once, and never after dispose.
describe('SocketGuard against the reference model (property)', () => {
  it('read-side deadlines: first byte, read idle (rate, paused time), paused cap, half-closed', () => {
    fc.assert(agreesWithModel(readConfig, [advance, advance, receive, pauseResume, fin, dispose]));
  });

  it('write-side deadlines: write stall with drain rate and kernel bursts, max age', () => {
    fc.assert(
      agreesWithModel(writeConfig, [advance, advance, write, drain, drain, receive, dispose]),
    );
  });

  it('all deadlines together, in their order of precedence', () => {
    fc.assert(
      agreesWithModel(anyConfig, [
        advance,
        advance,
        receive,
        pauseResume,
        write,
        drain,
        fin,
        dispose,
      ]),
    );
  });
});
