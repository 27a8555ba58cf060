import diagnostics from 'node:diagnostics_channel';
import { describe, expect, it, vi } from 'vitest';
import { ConnectionEpochs, MAX_PEER_ID_LENGTH, SkewGuard } from '../src/index.js';

const t = 1_000_000;
const now = () => t;

describe('SkewGuard timestamps', () => {
  it('accepts within the window and reports the age', () => {
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 200, now });
    expect(g.check({ peer: 'c1', sentAt: t - 400 })).toEqual({ ok: true, skewMs: 400 });
    expect(g.check({ peer: 'c1', sentAt: t + 100 })).toEqual({ ok: true, skewMs: -100 });
  });

  it('refuses stale and future messages, saying by how much and the limit', () => {
    const g = new SkewGuard({ maxPastMs: 300_000, maxFutureMs: 1000, now });
    const stale = g.check({ peer: 'ctl-17', sentAt: t - 300_500 });
    expect(stale).toMatchObject({
      ok: false,
      reason: 'stale',
      detail: { ageMs: 300_500, limitMs: 300_000 },
    });
    expect(!stale.ok && stale.detail.message).toBe('sent 300500 ms ago, limit 300000 ms');
    expect(g.check({ peer: 'ctl-17', sentAt: t + 5000 })).toMatchObject({
      ok: false,
      reason: 'future',
      detail: { limitMs: 1000 },
    });
  });

  it("corrects sentAt by the peer's estimated offset, widened by its error", () => {
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, now });
    // The peer's clock runs 5 s ahead; delays 10 ms each way.
    expect(g.observeRoundTrip('fast', { t1: t, t2: t + 5010, t3: t + 5012, t4: t + 22 })).toBe(
      true,
    );
    expect(g.offset('fast')).toEqual({ offsetMs: 5000, errorMs: 10, samples: 1 });
    expect(g.check({ peer: 'fast', sentAt: t + 5000 - 300 })).toEqual({ ok: true, skewMs: 300 });
    const v = g.check({ peer: 'fast', sentAt: t + 5000 - 1500 });
    expect(v).toMatchObject({
      ok: false,
      reason: 'stale',
      detail: { offsetMs: 5000, errorMs: 10 },
    });
    expect(!v.ok && v.detail.message).toMatch(/corrected by the peer's offset 5000 ms ± 10/);
  });

  it('keeps the least-delay sample of the last N (NTP minimum-delay filter)', () => {
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, offsetSamples: 3, now });
    g.observeRoundTrip('p', { t1: 0, t2: 100, t3: 100, t4: 100 }); // delay 100, offset 50
    g.observeRoundTrip('p', { t1: 0, t2: 5, t3: 5, t4: 10 }); // delay 10, offset 0
    g.observeRoundTrip('p', { t1: 0, t2: 40, t3: 40, t4: 60 }); // delay 60, offset 10
    expect(g.offset('p')).toEqual({ offsetMs: 0, errorMs: 5, samples: 3 });
    g.observeRoundTrip('p', { t1: 0, t2: 60, t3: 60, t4: 80 }); // pushes out the first
    g.observeRoundTrip('p', { t1: 0, t2: 30, t3: 30, t4: 50 }); // pushes out the best one
    expect(g.offset('p')).toEqual({ offsetMs: 5, errorMs: 25, samples: 3 }); // delays 60, 80, 50 remain
    expect(g.observeRoundTrip('p', { t1: 10, t2: 0, t3: 0, t4: 5 })).toBe(false); // t4 < t1
    expect(g.observeRoundTrip('p', { t1: 0, t2: Number.NaN, t3: 0, t4: 5 })).toBe(false);
  });
});

describe('SkewGuard replay window', () => {
  it('accepts each sequence number once, in any order, and refuses older than the window', () => {
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: 64, now });
    for (const seq of [5, 3, 100, 99, 70])
      expect(g.check({ peer: 'p', sentAt: t, seq }).ok).toBe(true);
    const dup = g.check({ peer: 'p', sentAt: t, seq: 99 });
    expect(dup).toMatchObject({
      ok: false,
      reason: 'replay',
      detail: { seq: 99, highestSeq: 100 },
    });
    expect(!dup.ok && dup.detail.message).toBe('sequence 99 was already accepted (highest 100)');
    const old = g.check({ peer: 'p', sentAt: t, seq: 30 });
    expect(!old.ok && old.detail.message).toBe(
      'sequence 30 is older than the replay window (highest 100, window 64)',
    );
  });

  it('does not burn a sequence number on a message refused for its timestamp', () => {
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: 32, now });
    expect(g.check({ peer: 'p', sentAt: t - 5000, seq: 1 }).ok).toBe(false);
    expect(g.check({ peer: 'p', sentAt: t, seq: 1 }).ok).toBe(true);
  });

  it('a new epoch starts a fresh sequence space; an older epoch is superseded', () => {
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: 32, now });
    expect(g.check({ peer: 'p', sentAt: t, seq: 10, epoch: 1 }).ok).toBe(true);
    expect(g.check({ peer: 'p', sentAt: t, seq: 0, epoch: 2 }).ok).toBe(true);
    expect(g.check({ peer: 'p', sentAt: t, seq: 11, epoch: 1 })).toMatchObject({
      ok: false,
      reason: 'superseded',
      detail: { epoch: 1, currentEpoch: 2, message: 'epoch 1 is superseded by epoch 2' },
    });
  });
});

describe('SkewGuard with ConnectionEpochs', () => {
  it("refuses messages from a connection that is not the peer's current one", () => {
    const epochs = new ConnectionEpochs<{ destroy(): void; destroyed?: boolean }>();
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, epochs, now });
    const old = {
      destroyed: false,
      destroy() {
        this.destroyed = true;
      },
    };
    const e1 = epochs.open('ctl', old);
    const e2 = epochs.open('ctl', { destroy() {} });
    expect(old.destroyed).toBe(true);
    expect(g.check({ peer: 'ctl', sentAt: t, epoch: e2 }).ok).toBe(true);
    expect(g.check({ peer: 'ctl', sentAt: t, epoch: e1 })).toMatchObject({
      ok: false,
      reason: 'superseded',
    });
    epochs.revoke('ctl'); // another instance took the controller
    const v = g.check({ peer: 'ctl', sentAt: t, epoch: e2 });
    expect(!v.ok && v.detail.message).toBe(`epoch ${e2}: this process holds no connection for ctl`);
  });
});

describe('ConnectionEpochs', () => {
  it('epochs strictly increase per peer; close is identity-checked', () => {
    const superseded: string[] = [];
    const epochs = new ConnectionEpochs<string>({
      onSupersede: (old, peer, o, n) => superseded.push(`${peer}:${old}:${o}->${n}`),
    });
    const a = epochs.open('p', 'a');
    const b = epochs.open('p', 'b');
    expect(b).toBeGreaterThan(a);
    expect(superseded).toEqual([`p:a:${a}->${b}`]);
    expect(epochs.close('p', 'a')).toBe(false); // the superseded one closing changes nothing
    expect(epochs.current('p')).toEqual({ epoch: b, conn: 'b' });
    expect(epochs.close('p', 'b')).toBe(true);
    expect(epochs.open('p', 'c')).toBeGreaterThan(b);
    expect(epochs.superseded).toBe(1);
  });
});

describe('bad input', () => {
  it.each([
    [null, 'message'],
    [{ sentAt: 1 }, 'peer'],
    [{ peer: '', sentAt: 1 }, 'peer'],
    [{ peer: 'p', sentAt: Number.NaN }, 'sentAt'],
    [{ peer: 'p', sentAt: '12' }, 'sentAt'],
    [{ peer: 'p', sentAt: -1 }, 'sentAt'],
    [{ peer: 'p', sentAt: 1, seq: 1.5 }, 'seq'],
    [{ peer: 'p', sentAt: 1, seq: -1 }, 'seq'],
    [{ peer: 'p', sentAt: 1, epoch: 0 }, 'epoch'],
    [{ peer: 'p', sentAt: 1, epoch: Number.POSITIVE_INFINITY }, 'epoch'],
  ])('%o is invalid (field %s), counted, never thrown', (msg, field) => {
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, now });
    const v = g.check(msg as never);
    expect(v).toMatchObject({ ok: false, reason: 'invalid', detail: { field } });
    expect(g.report().counts.invalid).toBe(1);
  });

  it.each([
    [{}, /options\.maxPastMs is required/],
    [
      { maxPastMs: -1, maxFutureMs: 0 },
      /options\.maxPastMs must be milliseconds within 0\.\.2147483647, got -1/,
    ],
    [{ maxPastMs: 2 ** 31, maxFutureMs: 0 }, /options\.maxPastMs must be milliseconds within/],
    [
      { maxPastMs: 1, maxFutureMS: 1 },
      /options\.maxFutureMS is not an option \(did you mean options\.maxFutureMs\?\)/,
    ],
    [{ maxPastMs: 1, maxFutureMs: 1, maxRoundTripMs: -5 }, /options\.maxRoundTripMs/],
    [
      { maxPastMs: 1, maxFutureMs: 1, replayWindow: 65_536, maxPeers: 1_000_000 },
      /options\.maxPeers \(1000000\) x \d+ bytes of state per peer \(options\.replayWindow 65536/,
    ],
    [{ maxPastMs: 1, maxFutureMs: 1, now: 5 }, /options\.now must be a function/],
    [
      { maxPastMs: 1, maxFutureMs: 1, replayWindow: 1.5 },
      /options\.replayWindow must be an integer/,
    ],
    [
      { maxPastMs: 1, maxFutureMs: 1, maxPeers: 0 },
      /options\.maxPeers must be an integer within 1\.\./,
    ],
    [{ maxPastMs: 1, maxFutureMs: 1, epochs: {} }, /options\.epochs must be a ConnectionEpochs/],
  ])('new SkewGuard(%o) throws naming the option', (bad, msg) => {
    expect(() => new SkewGuard(bad as never)).toThrow(msg);
  });
});

describe('report and diagnostics', () => {
  it('counts per reason, keeps the last rejections with detail, ranks offending peers', () => {
    const seen: unknown[] = [];
    const sub = (m: unknown) => seen.push(m);
    diagnostics.subscribe('halfopen:skew-guard:reject', sub);
    try {
      const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, replayWindow: 32, now });
      g.check({ peer: 'good', sentAt: t, seq: 1 });
      for (let i = 0; i < 3; i++) g.check({ peer: 'undead', sentAt: t - 300_000 });
      g.check({ peer: 'other', sentAt: t + 10_000 });
      const r = g.report();
      expect(r.counts).toMatchObject({ ok: 1, stale: 3, future: 1 });
      expect(r.topPeers[0]).toMatchObject({ peer: 'undead', rejected: 3, byReason: { stale: 3 } });
      expect(r.recent.at(-1)).toMatchObject({ peer: 'other', reason: 'future' });
      expect(g.report('undead').counts).toMatchObject({ ok: 0, stale: 3 });
      expect(seen).toHaveLength(4);
    } finally {
      diagnostics.unsubscribe('halfopen:skew-guard:reject', sub);
    }
  });

  it('bounds per-peer state with maxPeers', () => {
    const g = new SkewGuard({
      maxPastMs: 1000,
      maxFutureMs: 1000,
      replayWindow: 32,
      maxPeers: 100,
      now,
    });
    for (let i = 0; i < 1000; i++) g.check({ peer: `p${i}`, sentAt: t, seq: 1 });
    expect(g.report().peers).toBe(100);
  });
});

describe('ConnectionEpochs surface', () => {
  it('is not an emitter: onSupersede is the one way to observe a supersede', () => {
    const epochs = new ConnectionEpochs<string>({ onSupersede: () => {} });
    for (const m of ['emit', 'on', 'once', 'off', 'addListener']) expect(m in epochs).toBe(false);
    expect(Object.getOwnPropertyNames(epochs)).toEqual([]);
  });

  it('an onSupersede that throws is reported on halfopen:skew-guard:error, or as a warning when nobody listens; open() goes on', () => {
    const epochs = new ConnectionEpochs<string>({
      onSupersede: () => {
        throw new Error('boom');
      },
    });
    const seen: unknown[] = [];
    const sub = (m: unknown) => seen.push(m);
    diagnostics.subscribe('halfopen:skew-guard:error', sub);
    try {
      epochs.open('p', 'a');
      expect(() => epochs.open('p', 'b')).not.toThrow();
      expect(seen).toEqual([{ peer: 'p', error: new Error('boom') }]);
    } finally {
      diagnostics.unsubscribe('halfopen:skew-guard:error', sub);
    }
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      expect(epochs.revoke('p')).toBe(true);
      expect(warn).toHaveBeenCalledWith(
        'onSupersede for p failed: Error: boom',
        'HalfopenSkewGuardWarning',
      );
    } finally {
      warn.mockRestore();
    }
    expect(epochs.superseded).toBe(2);
  });
});

describe('clock and ids', () => {
  it('a clock that throws or returns NaN refuses the message as invalid (field now), never throws', () => {
    for (const clock of [
      () => Number.NaN,
      () => {
        throw new Error('no clock');
      },
    ]) {
      const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, now: clock });
      expect(g.check({ peer: 'p', sentAt: t })).toMatchObject({
        ok: false,
        reason: 'invalid',
        detail: { field: 'now' },
      });
    }
  });

  it(`a peer id over ${MAX_PEER_ID_LENGTH} characters is invalid and shown shortened`, () => {
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, now });
    const v = g.check({ peer: 'x'.repeat(MAX_PEER_ID_LENGTH + 1), sentAt: t });
    expect(v).toMatchObject({
      ok: false,
      reason: 'invalid',
      detail: {
        field: 'peer',
        message: `peer id is ${MAX_PEER_ID_LENGTH + 1} characters, limit ${MAX_PEER_ID_LENGTH}`,
      },
    });
    expect(g.report().recent[0]!.peer).toBe(
      `${'x'.repeat(40)}... (${MAX_PEER_ID_LENGTH + 1} characters)`,
    );
    expect(g.report().peers).toBe(0);
    expect(g.check({ peer: 'x'.repeat(MAX_PEER_ID_LENGTH), sentAt: t }).ok).toBe(true);
  });

  it('refuses a round-trip sample slower than maxRoundTripMs and keeps the others', () => {
    const g = new SkewGuard({ maxPastMs: 1000, maxFutureMs: 1000, maxRoundTripMs: 100, now });
    expect(g.observeRoundTrip('p', { t1: 0, t2: 0, t3: 0, t4: 101 })).toBe(false);
    expect(g.observeRoundTrip('p', { t1: 0, t2: 0, t3: 0, t4: 100 })).toBe(true);
    expect(g.offset('p')).toEqual({ offsetMs: -50, errorMs: 50, samples: 1 });
  });
});
