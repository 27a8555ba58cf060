import {
  bool,
  callUser,
  checkOptions,
  count,
  describe,
  fn,
  ms,
  oneOf,
  publish as publishTo,
  signal as checkSignal,
  text,
  whenSettled,
} from '@halfopen/internal';
import { channels } from './diagnostics.js';
import { QueueOverflowError, TopicClosedError } from './errors.js';

/** Called with each value and its version. If it returns a promise (a thenable), the next delivery to this subscriber waits for it. */
export type Listener<T> = (value: T, version: number) => unknown;

/**
 * What happens to versions published while a subscriber is still busy with an earlier one
 * (its async listener has not settled, or it published from inside its own listener):
 * - `'unbounded'` (default): every version is kept and delivered in order, however many pile
 *   up (an unbounded queue; for listeners that keep up).
 * - `'latest'`: only the newest is kept; intermediate versions are skipped. Memory stays flat however slow the subscriber.
 * - `{ queue: n, overflow }`: up to n versions are kept; beyond that `'drop-oldest'` drops the oldest kept one,
 *   `'error'` reports a QueueOverflowError and unsubscribes the subscriber.
 */
export type Delivery =
  | 'unbounded'
  | 'latest'
  | { queue: number; overflow: 'drop-oldest' | 'error' };

export interface SubscribeOptions {
  /** Unsubscribes when aborted; an already aborted signal gives an inactive subscription that receives nothing. Default: none. */
  signal?: AbortSignal;
  /** Default `'unbounded'`. */
  delivery?: Delivery;
  /** A name for diagnostics and `lagging()`. Default: none. */
  label?: string;
}

export interface TopicOptions<T> {
  /** Deliver the current value to a new subscriber, inside `subscribe()`. Default `true`. */
  replay?: boolean;
  /** Called when a listener throws or rejects, or a queue overflows. Default: none (the diagnostics channel still hears it). */
  onError?: (err: unknown, subscription: Subscription<T>) => void;
  /** Name used in errors and diagnostics. Default `topic#<n>`. */
  name?: string;
  /** Clock for `lagging()`, in ms. Default `performance.now`. */
  now?: () => number;
}

/** One subscriber's registration. `unsubscribe()` takes effect at once, even mid-publish. */
// `_T` is the topic's value type: unused by these members, kept so `Subscription<T>` reads as the topic it came from.
export interface Subscription<_T> extends Disposable {
  /** True until unsubscribed (or the topic closed). */
  readonly subscribed: boolean;
  /** The version last delivered to this subscriber (0 before the first). */
  readonly version: number;
  /** Versions published but not yet delivered to this subscriber. */
  readonly pending: number;
  /** How long this subscriber has been behind (busy or with versions waiting), or 0. */
  readonly behindMs: number;
  /** Deliveries made. */
  readonly delivered: number;
  /** Listener errors (throws, rejections) and overflows reported. */
  readonly errors: number;
  /** Versions dropped by a `drop-oldest` queue. */
  readonly dropped: number;
  readonly label: string | undefined;
  unsubscribe(): void;
}

const SUBSCRIBE_KEYS = ['signal', 'delivery', 'label'] as const;
const TOPIC_KEYS = ['replay', 'onError', 'name', 'now'] as const;

const UNBOUNDED = 0;
const LATEST = 1;
const QUEUE = 2;
/** Kept versions are compacted once this many delivered (or dropped) slots sit before the head. */
const COMPACT_AT = 32;

// Friend access to Topic's #private members, set in Topic's static block (no closure per subscription).
let detach: <T>(topic: Topic<T>, s: Sub<T>) => void;
let clockOf: <T>(topic: Topic<T>) => number;

/**
 * What a subscriber holds: its registration's public face. The registration itself (links,
 * counters, kept versions) is a `#private` field, so no user code can reach or change it.
 */
class Handle<T> implements Subscription<T> {
  readonly #s: Sub<T>;
  constructor(s: Sub<T>) {
    this.#s = s;
  }
  get subscribed(): boolean {
    return this.#s.live;
  }
  get version(): number {
    return this.#s.version;
  }
  get pending(): number {
    return this.#s.kept;
  }
  get behindMs(): number {
    const s = this.#s;
    return s.behind ? Math.max(0, clockOf(s.topic) - s.behindSince) : 0;
  }
  get delivered(): number {
    return this.#s.delivered;
  }
  get errors(): number {
    return this.#s.errors;
  }
  get dropped(): number {
    return this.#s.dropped;
  }
  get label(): string | undefined {
    return this.#s.label;
  }
  unsubscribe(): void {
    this.#s.unsubscribe();
  }
  [Symbol.dispose](): void {
    this.#s.unsubscribe();
  }
}

/** The registration itself: links, counters and kept versions, reachable only from this module. */
class Sub<T> {
  readonly handle: Handle<T> = new Handle(this);
  // list links; a removed node keeps `next` so a publish walking the list goes on
  next: Sub<T> | null = null;
  prev: Sub<T> | null = null;
  version = 0;
  delivered = 0;
  errors = 0;
  dropped = 0;
  /** a delivery to this subscriber is running (or its thenable is pending) */
  busy = false;
  /** versions kept for later (the hot path checks this, not `pending`) */
  kept = 0;
  live = true;
  /** behind (busy or with versions waiting) since `behindSince` */
  behind = false;
  behindSince = 0;
  /** kept versions (unbounded, queue) as parallel arrays from `head`; `latest` keeps one */
  private values: T[] | undefined;
  private versions: number[] | undefined;
  private head = 0;
  private latestVersion = 0;
  private latestValue: T | undefined;
  /** made only when a signal is given (no closure per plain subscribe) */
  onAbort: (() => void) | undefined;
  /** made at the first async delivery: the thenable settled / failed */
  settle: (() => void) | undefined;
  fail: ((error: unknown) => void) | undefined;

  constructor(
    readonly topic: Topic<T>,
    readonly listener: Listener<T>,
    readonly mode: number,
    readonly limit: number,
    readonly overflowError: boolean,
    /** the topic's version when this subscription was made: it receives later ones */
    readonly since: number,
    readonly label: string | undefined,
    readonly signal: AbortSignal | undefined,
  ) {}

  unsubscribe(): void {
    if (!this.live) return;
    this.live = false;
    this.kept = 0;
    this.behind = false;
    this.values = this.versions = undefined;
    this.latestValue = undefined;
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    detach(this.topic, this);
  }

  /** Keeps a version for later; false when the subscriber has to go (overflow: error). */
  keep(value: T, version: number): boolean {
    if (this.mode === LATEST) {
      this.latestValue = value;
      this.latestVersion = version;
      this.kept = 1;
      return true;
    }
    this.values ??= [];
    this.versions ??= [];
    const { values, versions } = this;
    if (this.mode === QUEUE && versions.length - this.head >= this.limit) {
      if (this.overflowError) return false;
      const dropped = versions[this.head]!;
      values[this.head] = undefined as T;
      this.head++;
      this.dropped++;
      if (channels.drop.hasSubscribers)
        channels.drop.publish({
          topic: this.topic.name,
          version: dropped,
          subscription: this.handle,
        });
    }
    // Slots before the head are spent: drop them once they are half the arrays, so a queue
    // that drops (or a backlog being worked off) holds what it keeps, not what it ever kept.
    if (this.head >= COMPACT_AT && 2 * this.head >= versions.length) {
      values.splice(0, this.head);
      versions.splice(0, this.head);
      this.head = 0;
    }
    values.push(value);
    versions.push(version);
    this.kept = versions.length - this.head;
    return true;
  }

  /** The next kept version into `out`, or false. */
  take(out: { value: T | undefined; version: number }): boolean {
    if (this.mode === LATEST) {
      if (this.kept === 0) return false;
      out.value = this.latestValue;
      out.version = this.latestVersion;
      this.latestValue = undefined;
      this.kept = 0;
      return true;
    }
    const versions = this.versions;
    const values = this.values!;
    if (!versions || this.head >= versions.length) return false;
    out.value = values[this.head];
    out.version = versions[this.head]!;
    values[this.head] = undefined as T;
    if (++this.head === versions.length) {
      versions.length = 0;
      values.length = 0;
      this.head = 0;
    }
    this.kept = versions.length - this.head;
    return true;
  }
}

let topics = 0;
const scratch: { value: unknown; version: number } = { value: undefined, version: 0 };

/**
 * A value that changes over time, and everyone who wants each change. See the README for
 * the guarantees: nothing lost, duplicated or reordered under any interleaving.
 */
export class Topic<T> implements Disposable {
  readonly name: string;
  readonly #now: () => number;
  readonly #replay: boolean;
  readonly #onError: TopicOptions<T>['onError'];
  #first: Sub<T> | null = null;
  #last: Sub<T> | null = null;
  #count = 0;
  #version = 0;
  #value: T | undefined;
  #closed = false;
  // Publishes made while a publish (or a replay) is delivering wait here, so every subscriber
  // sees versions in order and a listener publishing from inside never nests a delivery.
  #delivering = false;
  readonly #waitingValues: T[] = [];
  readonly #waitingVersions: number[] = [];

  static {
    detach = (topic, s) => topic.#remove(s);
    clockOf = (topic) => topic.#clock(undefined);
  }

  constructor(options?: TopicOptions<T>) {
    const o = checkOptions(options, TOPIC_KEYS);
    this.#replay = bool(o.replay, 'options.replay', true);
    this.#onError = fn(o.onError, 'options.onError');
    const now = fn(o.now, 'options.now');
    this.name = o.name === undefined ? `topic#${++topics}` : text(o.name, 'options.name', '');
    this.#now = now ?? (() => performance.now());
  }

  /** The latest value and its version, or undefined before the first publish. */
  get current(): { value: T; version: number } | undefined {
    return this.#version === 0 ? undefined : { value: this.#value as T, version: this.#version };
  }

  /** The latest version (0 before the first publish). */
  get version(): number {
    return this.#version;
  }

  /** Subscriptions registered now. */
  get size(): number {
    return this.#count;
  }

  /** Publishes a value; returns its version, one more than the previous. */
  publish(value: T): number {
    if (this.#closed) throw new TopicClosedError(this.name);
    const version = ++this.#version;
    this.#value = value;
    if (this.#delivering) {
      this.#waitingValues.push(value);
      this.#waitingVersions.push(version);
      return version;
    }
    this.#delivering = true;
    try {
      this.#fanOut(value, version);
      if (this.#waitingVersions.length !== 0) this.#fanOutWaiting();
    } finally {
      this.#delivering = false;
    }
    return version;
  }

  #fanOutWaiting(): void {
    try {
      for (let i = 0; i < this.#waitingVersions.length; i++) {
        this.#fanOut(this.#waitingValues[i]!, this.#waitingVersions[i]!);
      }
    } finally {
      this.#waitingValues.length = 0;
      this.#waitingVersions.length = 0;
    }
  }

  #fanOut(value: T, version: number): void {
    for (let s = this.#first; s !== null; s = s.next) {
      if (!s.live || s.since >= version) continue;
      if (s.busy || s.kept !== 0) this.#offerLater(s, value, version);
      else this.#deliver(s, value, version);
    }
  }

  #offerLater(s: Sub<T>, value: T, version: number): void {
    if (!s.behind) this.#markBehind(s);
    if (!s.keep(value, version)) {
      this.#report(new QueueOverflowError(this.name, s.limit, s.version, version), s);
      s.unsubscribe();
    } else if (!s.busy) this.#drain(s);
  }

  /**
   * Delivers `value`, then whatever was kept for `s` meanwhile, in a loop (never nested):
   * until `s` waits on an async listener, has nothing left, or is gone.
   */
  #deliver(s: Sub<T>, value: T, version: number): void {
    for (;;) {
      s.version = version;
      s.delivered++;
      s.busy = true;
      let r: unknown;
      try {
        r = s.listener(value, version);
      } catch (err) {
        r = undefined;
        this.#report(err, s);
      }
      // A thenable is always watched (a rejection is reported, never unhandled), even when
      // the listener unsubscribed itself; a then() that throws is reported and not waited for.
      if (r !== undefined && this.#awaits(s, r)) {
        if (s.live && !s.behind) this.#markBehind(s);
        return;
      }
      s.busy = false;
      if (s.kept === 0 || !s.live || !s.take(scratch as { value: T | undefined; version: number }))
        break;
      value = scratch.value as T;
      version = scratch.version;
      scratch.value = undefined;
    }
    if (s.behind && s.kept === 0) s.behind = false;
  }

  #awaits(s: Sub<T>, r: unknown): boolean {
    s.settle ??= () => {
      s.busy = false;
      this.#drain(s);
    };
    s.fail ??= (err: unknown) => this.#report(err, s);
    return whenSettled(r, s.settle, s.fail);
  }

  #drain(s: Sub<T>): void {
    const out = scratch as { value: T | undefined; version: number };
    if (s.live && !s.busy && s.take(out)) {
      const value = out.value as T;
      out.value = undefined;
      this.#deliver(s, value, out.version);
    } else if (!s.busy && s.kept === 0) s.behind = false;
  }

  #markBehind(s: Sub<T>): void {
    s.behind = true;
    s.behindSince = this.#clock(s);
  }

  /** The clock's reading; a throwing or non-finite clock is reported and reads as 0. */
  #clock(s: Sub<T> | undefined): number {
    let t: unknown;
    try {
      t = this.#now();
    } catch (err) {
      if (s) this.#report(err, s);
      return 0;
    }
    if (typeof t === 'number') return Number.isFinite(t) ? t : 0;
    // a promise from an async clock: watched, so it is never an unhandled rejection
    whenSettled(t, ignore, (err: unknown) => {
      if (s) this.#report(err, s);
    });
    return 0;
  }

  #report(err: unknown, s: Sub<T>): void {
    s.errors++;
    publishTo(channels.error, { topic: this.name, error: err, subscription: s.handle });
    if (this.#onError) callUser(this.#onError, [err, s.handle], this.#warn);
  }

  readonly #warn = (again: unknown): void => {
    process.emitWarning(
      `onError of topic ${this.name} threw: ${String(again)}`,
      'HalfopenRegistryWarning',
    );
  };

  /**
   * Registers `listener`. With replay on and a value published, the listener receives the
   * current value before subscribe returns: reading the state and registering are one step.
   */
  subscribe(listener: Listener<T>, options?: SubscribeOptions): Subscription<T> {
    if (typeof listener !== 'function')
      throw new TypeError(`listener must be a function, got ${describe(listener)}`);
    const o = checkOptions(options, SUBSCRIBE_KEYS);
    const { mode, limit, overflowError } = parseDelivery(o.delivery);
    const signal = checkSignal(o.signal, 'options.signal');
    const label = o.label === undefined ? undefined : text(o.label, 'options.label', '');
    if (this.#closed) throw new TopicClosedError(this.name);
    const s = new Sub<T>(this, listener, mode, limit, overflowError, this.#version, label, signal);
    if (signal?.aborted) {
      s.live = false;
      return s.handle;
    }
    if (signal) {
      s.onAbort = () => s.unsubscribe();
      signal.addEventListener('abort', s.onAbort, { once: true });
    }
    if (this.#last) {
      this.#last.next = s;
      s.prev = this.#last;
    } else this.#first = s;
    this.#last = s;
    this.#count++;
    if (this.#replay && this.#version > 0) this.#replayTo(s);
    return s.handle;
  }

  /** The replay runs as a publish does, so a listener that publishes from it never nests. */
  #replayTo(s: Sub<T>): void {
    if (this.#delivering) {
      this.#deliver(s, this.#value as T, this.#version);
      return;
    }
    this.#delivering = true;
    try {
      this.#deliver(s, this.#value as T, this.#version);
      if (this.#waitingVersions.length !== 0) this.#fanOutWaiting();
    } finally {
      this.#delivering = false;
    }
  }

  #remove(s: Sub<T>): void {
    const { prev, next } = s;
    if (prev === null && this.#first !== s) return; // never linked (subscribed with an aborted signal)
    if (prev) prev.next = next;
    else if (this.#first === s) this.#first = next;
    if (next) next.prev = prev;
    else if (this.#last === s) this.#last = prev;
    s.prev = null; // `next` stays: a publish standing on s walks on from it
    this.#count--;
  }

  /** Subscriptions behind (busy, or with versions waiting) for at least `thresholdMs`. */
  lagging(thresholdMs: number): Subscription<T>[] {
    // A comparison, not a timer: any finite threshold works.
    ms(thresholdMs, 'thresholdMs', { max: Number.MAX_SAFE_INTEGER });
    const now = this.#clock(undefined);
    const out: Subscription<T>[] = [];
    for (let s = this.#first; s !== null; s = s.next) {
      if (s.behind && now - s.behindSince >= thresholdMs) out.push(s.handle);
    }
    return out;
  }

  /** Unsubscribes everyone; publish and subscribe throw TopicClosedError afterwards. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (let s = this.#first; s !== null; s = s.next) s.unsubscribe();
    this.#value = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function parseDelivery(d: unknown): { mode: number; limit: number; overflowError: boolean } {
  if (d === undefined) return { mode: UNBOUNDED, limit: 0, overflowError: false };
  if (d === 'sync') {
    throw new TypeError(
      `options.delivery 'sync' was renamed 'unbounded' (an unbounded queue that awaits async listeners)`,
    );
  }
  if (typeof d === 'string') {
    const mode = oneOf(d, 'options.delivery', ['unbounded', 'latest'], 'unbounded');
    return { mode: mode === 'latest' ? LATEST : UNBOUNDED, limit: 0, overflowError: false };
  }
  if (d !== null && typeof d === 'object' && !Array.isArray(d)) {
    const q = checkOptions(
      d as { queue?: unknown; overflow?: unknown },
      ['queue', 'overflow'],
      'options.delivery',
    );
    const limit = count(q.queue, 'options.delivery.queue', { min: 1 });
    if (q.overflow === undefined)
      throw new TypeError(`options.delivery.overflow is required ('drop-oldest' or 'error')`);
    const overflow = oneOf(
      q.overflow,
      'options.delivery.overflow',
      ['drop-oldest', 'error'],
      'error',
    );
    return { mode: QUEUE, limit, overflowError: overflow === 'error' };
  }
  throw new TypeError(
    `options.delivery must be 'unbounded', 'latest' or { queue, overflow }, got ${describe(d)}`,
  );
}

function ignore(): void {}
