import {
  checkOptions,
  count,
  describe,
  fn,
  MAX_TIMER_MS,
  ms,
  publish,
  whenSettled,
} from '@halfopen/internal';
import { channels } from './diagnostics.js';
import type { ConnectionEpochs } from './epochs.js';

export type RejectReason = 'stale' | 'future' | 'replay' | 'superseded' | 'invalid';

/** A message's metadata as it arrived. Anything may be malformed: it is judged, never thrown. */
export interface Message {
  /** The peer's id: a non-empty string of at most 256 characters (MAX_PEER_ID_LENGTH). */
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
  /** Oldest accepted message age, after offset correction (0..2^31-1). Required. */
  maxPastMs: number;
  /** Furthest accepted message from the future (0..2^31-1). Required. */
  maxFutureMs: number;
  /** Sequence numbers remembered per peer and epoch (anti-replay window, 0..65536). Default: 0 (off). */
  replayWindow?: number;
  /** Peers whose state is kept (least recently seen dropped first, recency refreshed every 16 messages). Default: 10000. */
  maxPeers?: number;
  /** Round-trip samples kept per peer (1..255); the one with the least delay sets the offset. Default: 8. */
  offsetSamples?: number;
  /**
   * Round-trip samples with a longer delay are refused (`observeRoundTrip` returns false), so
   * one absurd sample cannot widen the window by half its delay. Default: maxPastMs + maxFutureMs.
   */
  maxRoundTripMs?: number;
  /** Refuse messages whose epoch is not the peer's current one in this tracker (a ConnectionEpochs). Default: none. */
  epochs?: Pick<ConnectionEpochs<unknown>, 'epochOf'>;
  /** Wall clock in ms since the epoch. Default `Date.now`. */
  now?: () => number;
}

const KEYS = [
  'maxPastMs',
  'maxFutureMs',
  'replayWindow',
  'maxPeers',
  'offsetSamples',
  'maxRoundTripMs',
  'epochs',
  'now',
] as const;

/** Longer peer ids are `invalid` (field `peer`): a peer's id is kept per peer, so its size is bounded. */
export const MAX_PEER_ID_LENGTH = 256;
/** The largest replay window: 8 KiB of bits per peer. */
const MAX_WINDOW = 65_536;
/** The most the peer table may take when full (maxPeers slots), so it never fails to grow later. */
const MAX_TABLE_BYTES = 2 ** 31;

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

  /** Bytes a slot takes when the table is full: state, round-trip samples, keys and the index. */
  get bytesPerSlot(): number {
    return 8 * this.stride + 16 * this.perSlotSamples + 64;
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
    // A copy: an id sliced from a larger string (a whole received line) would keep it alive.
    const key = JSON.parse(JSON.stringify(peer)) as string;
    this.keys[slot] = key;
    this.index.set(key, slot);
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
  private readonly maxRoundTripMs: number;
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
    const o = checkOptions(options, KEYS);
    this.maxPastMs = ms(o.maxPastMs, 'options.maxPastMs');
    this.maxFutureMs = ms(o.maxFutureMs, 'options.maxFutureMs');
    const window = count(o.replayWindow, 'options.replayWindow', { default: 0, max: MAX_WINDOW });
    this.words = Math.ceil(window / 32);
    this.window = this.words * 32; // rounded up to whole words
    this.samples = count(o.offsetSamples, 'options.offsetSamples', {
      default: 8,
      min: 1,
      max: 255,
    });
    const maxPeers = count(o.maxPeers, 'options.maxPeers', { default: 10_000, min: 1 });
    this.maxRoundTripMs = ms(o.maxRoundTripMs, 'options.maxRoundTripMs', {
      default: Math.min(this.maxPastMs + this.maxFutureMs, MAX_TIMER_MS),
    });
    const epochs = o.epochs as { epochOf?: unknown } | null | undefined;
    if (epochs !== undefined && (epochs === null || typeof epochs.epochOf !== 'function')) {
      throw new TypeError(
        `options.epochs must be a ConnectionEpochs (an object with epochOf), got ${describe(epochs)}`,
      );
    }
    this.epochs = o.epochs;
    this.now = fn(o.now, 'options.now') ?? Date.now;
    this.table = new PeerTable(maxPeers, this.words, this.samples);
    const bytes = maxPeers * this.table.bytesPerSlot;
    if (bytes > MAX_TABLE_BYTES) {
      throw new RangeError(
        `options.maxPeers (${maxPeers}) x ${this.table.bytesPerSlot} bytes of state per peer (options.replayWindow ${window}, options.offsetSamples ${this.samples}) must be at most ${MAX_TABLE_BYTES} bytes, got ${bytes}`,
      );
    }
  }

  private slotOf(peer: string): number {
    return this.table.slotOf(peer);
  }

  /** The clock's reading, or NaN when it threw or returned something that is not a finite number. */
  private time(): number {
    try {
      const at: unknown = this.now();
      if (typeof at === 'number') return Number.isFinite(at) ? at : Number.NaN;
      whenSettled(at, ignore, ignore); // a promise from an async clock: never an unhandled rejection
      return Number.NaN;
    } catch {
      return Number.NaN;
    }
  }

  /** The current epoch the tracker gives the peer; a tracker that throws gives none. */
  private epochOf(peer: string): unknown {
    try {
      const epoch: unknown = this.epochs!.epochOf(peer);
      if (typeof epoch !== 'number') whenSettled(epoch, ignore, ignore);
      return epoch;
    } catch {
      return undefined;
    }
  }

  /**
   * Judges one message. Only an accepted message changes the peer's state: its sequence number
   * is remembered, and a higher epoch starts a fresh sequence space; a rejected one changes
   * nothing but the counters.
   */
  check(msg: Message): Verdict {
    let invalid: { field: string; message: string } | undefined;
    try {
      invalid = this.validate(msg);
    } catch {
      invalid = { field: 'message', message: 'reading the message threw' };
    }
    if (invalid !== undefined) {
      const peer = invalid.field !== 'peer' && invalid.field !== 'message' ? msg.peer : undefined;
      return this.reject(
        peer ?? peerLabel(msg),
        peer === undefined ? -1 : this.slotOf(peer),
        'invalid',
        { message: invalid.message, field: invalid.field },
        this.time(),
      );
    }
    const { peer, sentAt, seq, epoch } = msg;
    const at0 = this.time();
    if (Number.isNaN(at0)) {
      return this.reject(
        peer,
        this.slotOf(peer),
        'invalid',
        {
          message: 'the clock (options.now) threw or did not return a finite number',
          field: 'now',
        },
        at0,
      );
    }
    const slot = this.slotOf(peer);
    const t = this.table;
    const at = slot * t.stride;

    let fresh = false;
    if (epoch !== undefined) {
      const stored = t.f64[at + EPOCH]!;
      const current = this.epochs ? this.epochOf(peer) : stored;
      if (this.epochs ? current !== epoch : epoch < stored) {
        return this.reject(
          peer,
          slot,
          'superseded',
          {
            message:
              current === undefined
                ? `epoch ${epoch}: this process holds no connection for ${peer}`
                : `epoch ${epoch} is superseded by epoch ${describe(current)}`,
            epoch,
            currentEpoch: typeof current === 'number' ? current : undefined,
          },
          at0,
        );
      }
      fresh = epoch > stored; // a new connection: a fresh sequence space, once accepted
    }

    const offset = t.f64[at + OFFSET]!;
    const error = t.f64[at + ERROR]!;
    const age = at0 - (sentAt - offset);
    if (age > this.maxPastMs + error || -age > this.maxFutureMs + error) {
      const stale = age > 0;
      const corrected =
        t.u32[t.u(slot, SAMPLE_COUNT)]! > 0
          ? ` (corrected by the peer's offset ${Math.round(offset)} ms ± ${Math.round(error)})`
          : '';
      return this.reject(
        peer,
        slot,
        stale ? 'stale' : 'future',
        {
          message: stale
            ? `sent ${Math.round(age)} ms ago${corrected}, limit ${this.maxPastMs} ms`
            : `sent ${Math.round(-age)} ms in the future${corrected}, limit ${this.maxFutureMs} ms`,
          ageMs: age,
          limitMs: stale ? this.maxPastMs : this.maxFutureMs,
          offsetMs: offset,
          errorMs: error,
        },
        at0,
      );
    }

    if (fresh) {
      // Nothing can refuse the message from here on (a fresh sequence space has no replays).
      t.f64[at + EPOCH] = epoch!;
      t.f64[at + HIGHEST] = -1;
      t.u32.fill(0, t.bitsAt(slot), t.bitsAt(slot) + this.words);
    }
    if (seq !== undefined && this.window > 0) {
      const why = this.replay(slot, seq);
      if (why !== undefined) {
        return this.reject(
          peer,
          slot,
          'replay',
          { message: why, seq, highestSeq: t.f64[at + HIGHEST]!, window: this.window },
          at0,
        );
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
    if (msg.peer.length > MAX_PEER_ID_LENGTH)
      return {
        field: 'peer',
        message: `peer id is ${msg.peer.length} characters, limit ${MAX_PEER_ID_LENGTH}`,
      };
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
    slot: number,
    reason: RejectReason,
    detail: RejectDetail,
    at: number,
  ): Verdict {
    this.totals[reason]++;
    if (slot >= 0) {
      this.table.u32[this.table.u(slot, REJECTED)]!++;
      this.table.u32[this.table.u(slot, BY_REASON + REASON_INDEX[reason])]!++;
    }
    if (this.recent.length === RECENT) this.recent.shift();
    this.recent.push({ peer, reason, detail, at });
    publish(channels.reject, { peer, reason, detail });
    return { ok: false, reason, detail };
  }

  /**
   * Adds an NTP-style sample: offset ((t2 - t1) + (t3 - t4)) / 2 and delay (t4 - t1) - (t3 - t2).
   * The sample with the least delay among the last `offsetSamples` sets the offset; its error
   * is half its delay. Returns false (and keeps nothing) for a malformed sample, and for one
   * whose delay exceeds `maxRoundTripMs` (its error bound would widen the window too far).
   */
  observeRoundTrip(peer: string, rt: RoundTrip): boolean {
    if (typeof peer !== 'string' || peer === '' || peer.length > MAX_PEER_ID_LENGTH) return false;
    if (rt === null || typeof rt !== 'object') return false;
    const { t1, t2, t3, t4 } = rt;
    if (![t1, t2, t3, t4].every((x) => typeof x === 'number' && Number.isFinite(x))) return false;
    const delay = t4 - t1 - (t3 - t2);
    const offset = (t2 - t1 + (t3 - t4)) / 2;
    if (!(delay >= 0 && delay <= this.maxRoundTripMs) || t4 < t1 || t3 < t2) return false;
    if (!Number.isFinite(offset)) return false;
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

/** How a message with an unusable peer id shows in `report().recent`: a short copy, never the id itself. */
function peerLabel(msg: unknown): string {
  const peer = (msg as { peer?: unknown } | null)?.peer;
  if (typeof peer !== 'string' || peer === '') return '(none)';
  return `${JSON.parse(JSON.stringify(peer.slice(0, 40)))}... (${peer.length} characters)`;
}

function ignore(): void {}
