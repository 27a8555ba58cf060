import diagnostics from 'node:diagnostics_channel';
import { LRUCache } from 'lru-cache';
import type { ConnectionEpochs } from './epochs.js';

export type RejectReason = 'stale' | 'future' | 'replay' | 'superseded' | 'invalid';

/** A message's metadata as it arrived. Anything may be malformed: it is judged, never thrown. */
export interface Message {
  peer: string;
  /** The sender's timestamp, ms since the epoch, on the sender's clock. */
  sentAt: number;
  /** Per-connection sequence number (>= 0), for replay protection. */
  seq?: number;
  /** The connection epoch the message came on. */
  epoch?: number;
}

/** Enough to act on: what was seen, what the limit was, what was assumed about the peer. */
export interface RejectDetail {
  message: string;
  ageMs?: number;
  limitMs?: number;
  offsetMs?: number;
  errorMs?: number;
  epoch?: number;
  currentEpoch?: number;
  seq?: number;
  highestSeq?: number;
  window?: number;
  field?: string;
}

export type Verdict =
  | {
      ok: true /** Age of the message on our clock after offset correction (negative: from the future). */;
      skewMs: number;
    }
  | { ok: false; reason: RejectReason; detail: RejectDetail };

export interface RoundTrip {
  /** We sent the request (our clock). */
  t1: number;
  /** The peer received it (peer clock). */
  t2: number;
  /** The peer replied (peer clock). */
  t3: number;
  /** We received the reply (our clock). */
  t4: number;
}

export interface SkewGuardOptions {
  /** Oldest accepted message age, after offset correction. Required. */
  maxPastMs: number;
  /** Furthest accepted message from the future. Required. */
  maxFutureMs: number;
  /** Sequence numbers remembered per peer and epoch (anti-replay window). Default: 0 (off). */
  replayWindow?: number;
  /** Peers whose state is kept (least recently seen dropped first). Default: 10000. */
  maxPeers?: number;
  /** Round-trip samples kept per peer; the one with the least delay sets the offset. Default: 8. */
  offsetSamples?: number;
  /** Refuse messages whose epoch is not the peer's current one in this tracker (a ConnectionEpochs). */
  epochs?: Pick<ConnectionEpochs<unknown>, 'epochOf'>;
  /** Wall clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

const channel = diagnostics.channel('halfopen:skew-guard:reject');
/** `halfopen:skew-guard:reject`: every rejection, `{ peer, reason, detail }`. */
export const channels = { reject: channel };

class PeerState {
  highestEpoch = 0;
  highestSeq = -1;
  bits: Uint32Array | undefined;
  // Round-trip samples: offset (peer - ours) and delay, in a ring.
  offsets: Float64Array | undefined;
  delays: Float64Array | undefined;
  sampleCount = 0;
  sampleNext = 0;
  bestOffset = 0;
  bestError = 0;
  accepted = 0;
  rejected = 0;
  readonly byReason: Record<RejectReason, number> = {
    stale: 0,
    future: 0,
    replay: 0,
    superseded: 0,
    invalid: 0,
  };
}

const RECENT = 32;

function checkNumber(
  options: object,
  name: string,
  { integer = false, required = false, min = 0 } = {},
): number | undefined {
  const v = (options as Record<string, unknown>)[name];
  if (v === undefined) {
    if (required) throw new TypeError(`options.${name} is required`);
    return undefined;
  }
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new TypeError(`options.${name} must be a number, got ${typeof v}`);
  if (v < min || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new RangeError(
      `options.${name} must be ${integer ? 'an integer' : 'a finite number'} >= ${min}, got ${v}`,
    );
  }
  return v;
}

/**
 * Judges each message's timestamp, sequence number and connection epoch, and explains every
 * rejection. Per-peer state is bounded (lru-cache); malformed input is `invalid`, never thrown.
 */
export class SkewGuard {
  private readonly maxPastMs: number;
  private readonly maxFutureMs: number;
  private readonly window: number;
  private readonly words: number;
  private readonly samples: number;
  private readonly epochs: Pick<ConnectionEpochs<unknown>, 'epochOf'> | undefined;
  private readonly now: () => number;
  private readonly peers: LRUCache<string, PeerState>;
  private readonly totals: Record<RejectReason | 'ok', number> = {
    ok: 0,
    stale: 0,
    future: 0,
    replay: 0,
    superseded: 0,
    invalid: 0,
  };
  private readonly recent: Array<{
    peer: string;
    reason: RejectReason;
    detail: RejectDetail;
    at: number;
  }> = [];

  constructor(options: SkewGuardOptions) {
    if (options === null || typeof options !== 'object')
      throw new TypeError('options must be an object with maxPastMs and maxFutureMs');
    this.maxPastMs = checkNumber(options, 'maxPastMs', { required: true })!;
    this.maxFutureMs = checkNumber(options, 'maxFutureMs', { required: true })!;
    const window = checkNumber(options, 'replayWindow', { integer: true }) ?? 0;
    this.words = Math.ceil(window / 32);
    this.window = this.words * 32; // rounded up to whole words
    this.samples = checkNumber(options, 'offsetSamples', { integer: true, min: 1 }) ?? 8;
    const maxPeers = checkNumber(options, 'maxPeers', { integer: true, min: 1 }) ?? 10_000;
    if (options.now !== undefined && typeof options.now !== 'function')
      throw new TypeError('options.now must be a function');
    if (
      options.epochs !== undefined &&
      typeof (options.epochs as { isCurrent?: unknown })?.isCurrent !== 'function'
    ) {
      throw new TypeError('options.epochs must be a ConnectionEpochs');
    }
    this.epochs = options.epochs;
    this.now = options.now ?? Date.now;
    this.peers = new LRUCache<string, PeerState>({ max: maxPeers });
  }

  /** Judges one message. Accepted sequence numbers are remembered; rejected ones are not. */
  check(msg: Message): Verdict {
    const invalid = this.validate(msg);
    if (invalid !== undefined)
      return this.reject(
        typeof msg?.peer === 'string' ? msg.peer : '(none)',
        undefined,
        'invalid',
        { message: invalid.message, field: invalid.field },
      );
    const { peer, sentAt, seq, epoch } = msg;
    let st = this.peers.get(peer);
    if (st === undefined) {
      st = new PeerState();
      this.peers.set(peer, st);
    }

    if (epoch !== undefined) {
      const current = this.epochs ? this.epochs.epochOf(peer) : st.highestEpoch;
      if (this.epochs ? current !== epoch : epoch < st.highestEpoch) {
        return this.reject(peer, st, 'superseded', {
          message:
            current === undefined
              ? `epoch ${epoch}: this process holds no connection for ${peer}`
              : `epoch ${epoch} is superseded by epoch ${current}`,
          epoch,
          currentEpoch: current,
        });
      }
      if (epoch > st.highestEpoch) {
        // A new connection: a fresh sequence space.
        st.highestEpoch = epoch;
        st.highestSeq = -1;
        st.bits?.fill(0);
      }
    }

    const offset = st.sampleCount > 0 ? st.bestOffset : 0;
    const error = st.sampleCount > 0 ? st.bestError : 0;
    const age = this.now() - (sentAt - offset);
    if (age > this.maxPastMs + error) {
      return this.reject(peer, st, 'stale', {
        message: `sent ${Math.round(age)} ms ago${st.sampleCount ? ` (corrected by the peer's offset ${Math.round(offset)} ms ± ${Math.round(error)})` : ''}, limit ${this.maxPastMs} ms`,
        ageMs: age,
        limitMs: this.maxPastMs,
        offsetMs: offset,
        errorMs: error,
      });
    }
    if (-age > this.maxFutureMs + error) {
      return this.reject(peer, st, 'future', {
        message: `sent ${Math.round(-age)} ms in the future${st.sampleCount ? ` (corrected by the peer's offset ${Math.round(offset)} ms ± ${Math.round(error)})` : ''}, limit ${this.maxFutureMs} ms`,
        ageMs: age,
        limitMs: this.maxFutureMs,
        offsetMs: offset,
        errorMs: error,
      });
    }

    if (seq !== undefined && this.window > 0) {
      const why = this.replay(st, seq);
      if (why !== undefined) {
        return this.reject(peer, st, 'replay', {
          message: why,
          seq,
          highestSeq: st.highestSeq,
          window: this.window,
        });
      }
    }
    st.accepted++;
    this.totals.ok++;
    return { ok: true, skewMs: age };
  }

  /** Returns why `seq` is a replay, or marks it seen and returns undefined. */
  private replay(st: PeerState, seq: number): string | undefined {
    st.bits ??= new Uint32Array(this.words);
    const bits = st.bits;
    const w = this.window;
    if (seq > st.highestSeq) {
      const shift = seq - st.highestSeq;
      if (shift >= w || st.highestSeq < 0) bits.fill(0);
      else
        for (let s = st.highestSeq + 1; s < seq; s++)
          bits[(s % w) >>> 5]! &= ~(1 << ((s % w) & 31));
      st.highestSeq = seq;
    } else if (seq <= st.highestSeq - w) {
      return `sequence ${seq} is older than the replay window (highest ${st.highestSeq}, window ${w})`;
    } else if ((bits[(seq % w) >>> 5]! & (1 << ((seq % w) & 31))) !== 0) {
      return `sequence ${seq} was already accepted (highest ${st.highestSeq})`;
    }
    bits[(seq % w) >>> 5]! |= 1 << ((seq % w) & 31);
    return undefined;
  }

  private validate(msg: Message): { field: string; message: string } | undefined {
    if (msg === null || typeof msg !== 'object')
      return {
        field: 'message',
        message: `message must be an object, got ${msg === null ? 'null' : typeof msg}`,
      };
    if (typeof msg.peer !== 'string' || msg.peer === '')
      return { field: 'peer', message: 'peer must be a non-empty string' };
    if (typeof msg.sentAt !== 'number' || !Number.isFinite(msg.sentAt) || msg.sentAt < 0) {
      return {
        field: 'sentAt',
        message: `sentAt must be a finite number >= 0, got ${describe(msg.sentAt)}`,
      };
    }
    if (
      msg.seq !== undefined &&
      (typeof msg.seq !== 'number' || !Number.isSafeInteger(msg.seq) || msg.seq < 0)
    ) {
      return { field: 'seq', message: `seq must be a safe integer >= 0, got ${describe(msg.seq)}` };
    }
    if (
      msg.epoch !== undefined &&
      (typeof msg.epoch !== 'number' || !Number.isSafeInteger(msg.epoch) || msg.epoch < 1)
    ) {
      return {
        field: 'epoch',
        message: `epoch must be a safe integer >= 1, got ${describe(msg.epoch)}`,
      };
    }
    return undefined;
  }

  private reject(
    peer: string,
    st: PeerState | undefined,
    reason: RejectReason,
    detail: RejectDetail,
  ): Verdict {
    this.totals[reason]++;
    if (st) {
      st.rejected++;
      st.byReason[reason]++;
    }
    if (this.recent.length === RECENT) this.recent.shift();
    this.recent.push({ peer, reason, detail, at: this.now() });
    if (channel.hasSubscribers) channel.publish({ peer, reason, detail });
    return { ok: false, reason, detail };
  }

  /**
   * Adds an NTP-style sample: offset ((t2 - t1) + (t3 - t4)) / 2 and delay (t4 - t1) - (t3 - t2).
   * The sample with the least delay among the last `offsetSamples` sets the offset; its error
   * is half its delay. Returns false (and keeps nothing) for a malformed sample.
   */
  observeRoundTrip(peer: string, rt: RoundTrip): boolean {
    if (typeof peer !== 'string' || peer === '' || rt === null || typeof rt !== 'object')
      return false;
    const { t1, t2, t3, t4 } = rt;
    if (![t1, t2, t3, t4].every((t) => typeof t === 'number' && Number.isFinite(t))) return false;
    const delay = t4 - t1 - (t3 - t2);
    if (delay < 0 || t4 < t1 || t3 < t2) return false;
    const offset = (t2 - t1 + (t3 - t4)) / 2;
    let st = this.peers.get(peer);
    if (st === undefined) {
      st = new PeerState();
      this.peers.set(peer, st);
    }
    st.offsets ??= new Float64Array(this.samples);
    st.delays ??= new Float64Array(this.samples);
    st.offsets[st.sampleNext] = offset;
    st.delays[st.sampleNext] = delay;
    st.sampleNext = (st.sampleNext + 1) % this.samples;
    st.sampleCount = Math.min(st.sampleCount + 1, this.samples);
    let best = 0;
    for (let i = 1; i < st.sampleCount; i++) if (st.delays[i]! < st.delays[best]!) best = i;
    st.bestOffset = st.offsets[best]!;
    st.bestError = st.delays[best]! / 2;
    return true;
  }

  /** The peer's clock minus ours, as estimated, with its error bound. */
  offset(peer: string): { offsetMs: number; errorMs: number; samples: number } | undefined {
    const st = this.peers.peek(peer);
    if (!st || st.sampleCount === 0) return undefined;
    return { offsetMs: st.bestOffset, errorMs: st.bestError, samples: st.sampleCount };
  }

  /** Counts per reason (of one peer, or of all), the last rejections with detail, the top offenders. */
  report(peer?: string): {
    counts: Record<RejectReason | 'ok', number>;
    recent: Array<{ peer: string; reason: RejectReason; detail: RejectDetail; at: number }>;
    topPeers: Array<{ peer: string; rejected: number; byReason: Record<RejectReason, number> }>;
    peers: number;
  } {
    const recent =
      peer === undefined ? [...this.recent] : this.recent.filter((r) => r.peer === peer);
    let counts: Record<RejectReason | 'ok', number> = { ...this.totals };
    if (peer !== undefined) {
      const st = this.peers.peek(peer);
      counts = {
        ok: st?.accepted ?? 0,
        ...(st?.byReason ?? { stale: 0, future: 0, replay: 0, superseded: 0, invalid: 0 }),
      };
    }
    const topPeers: Array<{
      peer: string;
      rejected: number;
      byReason: Record<RejectReason, number>;
    }> = [];
    for (const [p, st] of this.peers.entries())
      if (st.rejected > 0)
        topPeers.push({ peer: p, rejected: st.rejected, byReason: { ...st.byReason } });
    topPeers.sort((a, b) => b.rejected - a.rejected);
    topPeers.length = Math.min(topPeers.length, 10);
    return { counts, recent, topPeers, peers: this.peers.size };
  }
}

function describe(v: unknown): string {
  return typeof v === 'number'
    ? String(v)
    : typeof v === 'string'
      ? `"${v.slice(0, 40)}"`
      : typeof v;
}
