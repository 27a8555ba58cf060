import diagnostics from 'node:diagnostics_channel';
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
  /** Peers whose state is kept (least recently seen dropped first, recency refreshed every 16 messages). Default: 10000. */
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

const REASON_INDEX: Record<RejectReason, number> = {
  stale: 0,
  future: 1,
  replay: 2,
  superseded: 3,
  invalid: 4,
};

// One slot's fields, interleaved so a check touches one or two cache lines. Offsets in doubles;
// counters and replay bits are uint32s in the same bytes (u32 index = 2 * double index + k).
const EPOCH = 0;
const HIGHEST = 1;
const OFFSET = 2;
const ERROR = 3;
const U32 = 4; // u32 fields start here: accepted, rejected, seen, sampleCount, sampleNext, byReason x5
const ACCEPTED = 0;
const REJECTED = 1;
const SEEN = 2;
const SAMPLE_COUNT = 3;
const SAMPLE_NEXT = 4;
const BY_REASON = 5;
const PREV = 10; // recency list through the slots: least recently seen at `head`
const NEXT = 11;
const U32_FIELDS = 12;
const NONE = 0xffffffff;

/**
 * Per-peer state in one ArrayBuffer, a fixed stride per slot (no object per peer), grown by
 * doubling up to maxPeers, with a recency list threaded through the slots. A Map finds a peer's
 * slot; when full, the least recently seen peer's slot is reset and reused.
 */
class PeerTable {
  cap = 0;
  f64 = new Float64Array(0);
  u32 = new Uint32Array(0);
  samples = new Float64Array(0); // 2 * perSlotSamples per slot: offset, delay (not on the check path)
  readonly keys: string[] = [];
  readonly index = new Map<string, number>();
  /** Doubles per slot. */
  readonly stride: number;
  private head = NONE;
  private tail = NONE;

  constructor(
    private readonly max: number,
    readonly words: number,
    private readonly perSlotSamples: number,
  ) {
    this.stride = U32 + Math.ceil((U32_FIELDS + words) / 2);
  }

  get size(): number {
    return this.index.size;
  }

  /** u32 index of field k of a slot. */
  u(slot: number, k: number): number {
    return 2 * (slot * this.stride + U32) + k;
  }

  /** u32 index of the slot's first replay word. */
  bitsAt(slot: number): number {
    return 2 * (slot * this.stride + U32) + U32_FIELDS;
  }

  /** The peer's slot, made (evicting the least recently seen peer when full) if absent. */
  slotOf(peer: string): number {
    const slot = this.index.get(peer);
    if (slot === undefined) return this.add(peer);
    // Recency is refreshed on every 16th lookup: eviction is least-recently-seen to within 16
    // messages, and the common lookup writes nothing outside its own slot.
    if ((++this.u32[this.u(slot, SEEN)]! & 15) === 0) this.toTail(slot);
    return slot;
  }

  private add(peer: string): number {
    let slot: number;
    if (this.index.size < this.max) {
      slot = this.index.size;
      if (slot >= this.cap) this.grow(Math.min(this.max, Math.max(64, this.cap * 2)));
    } else {
      slot = this.head;
      this.unlink(slot);
      this.index.delete(this.keys[slot]!);
    }
    this.f64.fill(0, slot * this.stride, (slot + 1) * this.stride);
    this.f64[slot * this.stride + HIGHEST] = -1;
    this.keys[slot] = peer;
    this.index.set(peer, slot);
    this.link(slot);
    return slot;
  }

  private toTail(slot: number): void {
    if (this.tail === slot) return;
    this.unlink(slot);
    this.link(slot);
  }

  private link(slot: number): void {
    const u = this.u32;
    u[this.u(slot, PREV)] = this.tail;
    u[this.u(slot, NEXT)] = NONE;
    if (this.tail !== NONE) u[this.u(this.tail, NEXT)] = slot;
    else this.head = slot;
    this.tail = slot;
  }

  private unlink(slot: number): void {
    const u = this.u32;
    const prev = u[this.u(slot, PREV)]!;
    const next = u[this.u(slot, NEXT)]!;
    if (prev !== NONE) u[this.u(prev, NEXT)] = next;
    else this.head = next;
    if (next !== NONE) u[this.u(next, PREV)] = prev;
    else this.tail = prev;
  }

  private grow(cap: number): void {
    const f64 = new Float64Array(cap * this.stride);
    f64.set(this.f64);
    this.f64 = f64;
    this.u32 = new Uint32Array(f64.buffer);
    const samples = new Float64Array(cap * 2 * this.perSlotSamples);
    samples.set(this.samples);
    this.samples = samples;
    this.cap = cap;
  }
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
  private readonly table: PeerTable;
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
    if (this.samples > 255)
      throw new RangeError(`options.offsetSamples must be at most 255, got ${this.samples}`);
    const maxPeers = checkNumber(options, 'maxPeers', { integer: true, min: 1 }) ?? 10_000;
    if (options.now !== undefined && typeof options.now !== 'function')
      throw new TypeError('options.now must be a function');
    if (
      options.epochs !== undefined &&
      typeof (options.epochs as { epochOf?: unknown })?.epochOf !== 'function'
    ) {
      throw new TypeError('options.epochs must be a ConnectionEpochs');
    }
    this.epochs = options.epochs;
    this.now = options.now ?? Date.now;
    this.table = new PeerTable(maxPeers, this.words, this.samples);
  }

  private slotOf(peer: string): number {
    return this.table.slotOf(peer);
  }

  /** Judges one message. Accepted sequence numbers are remembered; rejected ones are not. */
  check(msg: Message): Verdict {
    const invalid = this.validate(msg);
    if (invalid !== undefined) {
      const peer = typeof msg?.peer === 'string' && msg.peer !== '' ? msg.peer : undefined;
      return this.reject(peer ?? '(none)', peer === undefined ? -1 : this.slotOf(peer), 'invalid', {
        message: invalid.message,
        field: invalid.field,
      });
    }
    const { peer, sentAt, seq, epoch } = msg;
    const slot = this.slotOf(peer);
    const t = this.table;
    const at = slot * t.stride;

    if (epoch !== undefined) {
      const current = this.epochs ? this.epochs.epochOf(peer) : t.f64[at + EPOCH]!;
      if (this.epochs ? current !== epoch : epoch < current!) {
        return this.reject(peer, slot, 'superseded', {
          message:
            current === undefined
              ? `epoch ${epoch}: this process holds no connection for ${peer}`
              : `epoch ${epoch} is superseded by epoch ${current}`,
          epoch,
          currentEpoch: current,
        });
      }
      if (epoch > t.f64[at + EPOCH]!) {
        // A new connection: a fresh sequence space.
        t.f64[at + EPOCH] = epoch;
        t.f64[at + HIGHEST] = -1;
        t.u32.fill(0, t.bitsAt(slot), t.bitsAt(slot) + this.words);
      }
    }

    const offset = t.f64[at + OFFSET]!;
    const error = t.f64[at + ERROR]!;
    const age = this.now() - (sentAt - offset);
    if (age > this.maxPastMs + error || -age > this.maxFutureMs + error) {
      const stale = age > 0;
      const corrected =
        t.u32[t.u(slot, SAMPLE_COUNT)]! > 0
          ? ` (corrected by the peer's offset ${Math.round(offset)} ms ± ${Math.round(error)})`
          : '';
      return this.reject(peer, slot, stale ? 'stale' : 'future', {
        message: stale
          ? `sent ${Math.round(age)} ms ago${corrected}, limit ${this.maxPastMs} ms`
          : `sent ${Math.round(-age)} ms in the future${corrected}, limit ${this.maxFutureMs} ms`,
        ageMs: age,
        limitMs: stale ? this.maxPastMs : this.maxFutureMs,
        offsetMs: offset,
        errorMs: error,
      });
    }

    if (seq !== undefined && this.window > 0) {
      const why = this.replay(slot, seq);
      if (why !== undefined) {
        return this.reject(peer, slot, 'replay', {
          message: why,
          seq,
          highestSeq: t.f64[at + HIGHEST]!,
          window: this.window,
        });
      }
    }
    t.u32[t.u(slot, ACCEPTED)]!++;
    this.totals.ok++;
    return { ok: true, skewMs: age };
  }

  /** Returns why `seq` is a replay, or marks it seen and returns undefined. */
  private replay(slot: number, seq: number): string | undefined {
    const t = this.table;
    const bits = t.u32;
    const base = t.bitsAt(slot);
    const w = this.window;
    const highest = t.f64[slot * t.stride + HIGHEST]!;
    if (seq > highest) {
      if (seq - highest >= w || highest < 0) bits.fill(0, base, base + this.words);
      else
        for (let s = highest + 1; s < seq; s++)
          bits[base + ((s % w) >>> 5)]! &= ~(1 << ((s % w) & 31));
      t.f64[slot * t.stride + HIGHEST] = seq;
    } else if (seq <= highest - w) {
      return `sequence ${seq} is older than the replay window (highest ${highest}, window ${w})`;
    } else if ((bits[base + ((seq % w) >>> 5)]! & (1 << ((seq % w) & 31))) !== 0) {
      return `sequence ${seq} was already accepted (highest ${highest})`;
    }
    bits[base + ((seq % w) >>> 5)]! |= 1 << ((seq % w) & 31);
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

  private reject(peer: string, slot: number, reason: RejectReason, detail: RejectDetail): Verdict {
    this.totals[reason]++;
    if (slot >= 0) {
      this.table.u32[this.table.u(slot, REJECTED)]!++;
      this.table.u32[this.table.u(slot, BY_REASON + REASON_INDEX[reason])]!++;
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
    if (![t1, t2, t3, t4].every((x) => typeof x === 'number' && Number.isFinite(x))) return false;
    const delay = t4 - t1 - (t3 - t2);
    if (delay < 0 || t4 < t1 || t3 < t2) return false;
    const offset = (t2 - t1 + (t3 - t4)) / 2;
    const slot = this.slotOf(peer);
    const t = this.table;
    const n = this.samples;
    const base = slot * 2 * n;
    const next = t.u32[t.u(slot, SAMPLE_NEXT)]!;
    t.samples[base + 2 * next] = offset;
    t.samples[base + 2 * next + 1] = delay;
    t.u32[t.u(slot, SAMPLE_NEXT)] = (next + 1) % n;
    const count = Math.min(t.u32[t.u(slot, SAMPLE_COUNT)]! + 1, n);
    t.u32[t.u(slot, SAMPLE_COUNT)] = count;
    let best = 0;
    for (let i = 1; i < count; i++)
      if (t.samples[base + 2 * i + 1]! < t.samples[base + 2 * best + 1]!) best = i;
    t.f64[slot * t.stride + OFFSET] = t.samples[base + 2 * best]!;
    t.f64[slot * t.stride + ERROR] = t.samples[base + 2 * best + 1]! / 2;
    return true;
  }

  /** The peer's clock minus ours, as estimated, with its error bound. */
  offset(peer: string): { offsetMs: number; errorMs: number; samples: number } | undefined {
    const t = this.table;
    const slot = t.index.get(peer);
    if (slot === undefined || t.u32[t.u(slot, SAMPLE_COUNT)] === 0) return undefined;
    return {
      offsetMs: t.f64[slot * t.stride + OFFSET]!,
      errorMs: t.f64[slot * t.stride + ERROR]!,
      samples: t.u32[t.u(slot, SAMPLE_COUNT)]!,
    };
  }

  /** Counts per reason (of one peer, or of all), the last rejections with detail, the top offenders. */
  report(peer?: string): {
    counts: Record<RejectReason | 'ok', number>;
    recent: Array<{ peer: string; reason: RejectReason; detail: RejectDetail; at: number }>;
    topPeers: Array<{ peer: string; rejected: number; byReason: Record<RejectReason, number> }>;
    peers: number;
  } {
    const t = this.table;
    const reasonsOf = (slot: number): Record<RejectReason, number> => ({
      stale: t.u32[t.u(slot, BY_REASON)]!,
      future: t.u32[t.u(slot, BY_REASON + 1)]!,
      replay: t.u32[t.u(slot, BY_REASON + 2)]!,
      superseded: t.u32[t.u(slot, BY_REASON + 3)]!,
      invalid: t.u32[t.u(slot, BY_REASON + 4)]!,
    });
    const recent =
      peer === undefined ? [...this.recent] : this.recent.filter((r) => r.peer === peer);
    let counts: Record<RejectReason | 'ok', number> = { ...this.totals };
    if (peer !== undefined) {
      const slot = t.index.get(peer);
      counts =
        slot === undefined
          ? { ok: 0, stale: 0, future: 0, replay: 0, superseded: 0, invalid: 0 }
          : { ok: t.u32[t.u(slot, ACCEPTED)]!, ...reasonsOf(slot) };
    }
    const topPeers: Array<{
      peer: string;
      rejected: number;
      byReason: Record<RejectReason, number>;
    }> = [];
    for (const [p, slot] of t.index) {
      if (t.u32[t.u(slot, REJECTED)]! > 0)
        topPeers.push({
          peer: p,
          rejected: t.u32[t.u(slot, REJECTED)]!,
          byReason: reasonsOf(slot),
        });
    }
    topPeers.sort((a, b) => b.rejected - a.rejected);
    topPeers.length = Math.min(topPeers.length, 10);
    return { counts, recent, topPeers, peers: t.size };
  }
}

function describe(v: unknown): string {
  return typeof v === 'number'
    ? String(v)
    : typeof v === 'string'
      ? `"${v.slice(0, 40)}"`
      : typeof v;
}
