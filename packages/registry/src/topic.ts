import { channels } from './diagnostics.js';
import { QueueOverflowError, TopicClosedError } from './errors.js';

/** Called with each value and its version. If it returns a promise (a thenable), the next delivery to this subscriber waits for it. */
export type Listener<T> = (value: T, version: number) => unknown;

/**
 * What happens to versions published while a subscriber is still busy with an earlier one
 * (its async listener has not settled, or it published from inside its own listener):
 * - `'sync'` (default): every version is kept and delivered in order (unbounded; for listeners that finish quickly).
 * - `'latest'`: only the newest is kept; intermediate versions are skipped. Memory stays flat however slow the subscriber.
 * - `{ queue: n, overflow }`: up to n versions are kept; beyond that `'drop-oldest'` drops the oldest kept one,
 *   `'error'` reports a QueueOverflowError and unsubscribes the subscriber.
 */
export type Delivery = 'sync' | 'latest' | { queue: number; overflow: 'drop-oldest' | 'error' };

export interface SubscribeOptions {
  /** Unsubscribes when aborted; an already aborted signal gives an inactive subscription that receives nothing. */
  signal?: AbortSignal;
  /** Default `'sync'`. */
  delivery?: Delivery;
  /** A name for diagnostics and `lagging()`. */
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

const SYNC = 0;
const LATEST = 1;
const QUEUE = 2;

function isThenable(r: unknown): r is PromiseLike<unknown> {
  return (
    r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function'
  );
}

/** One subscriber's registration. `unsubscribe()` takes effect at once, even mid-publish. */
export class Subscription<T> implements Disposable {
  /** @internal list links; a removed node keeps `next` so a publish walking the list goes on */
  next: Subscription<T> | null = null;
  /** @internal */
  prev: Subscription<T> | null = null;
  /** The version last delivered to this subscriber (0 before the first). */
  version = 0;
  /** Deliveries made, listener errors, and versions dropped by a `drop-oldest` queue. */
  delivered = 0;
  errors = 0;
  dropped = 0;
  readonly label: string | undefined;
  /** @internal the topic's version when this subscription was made: it receives later ones */
  readonly since: number;
  /** @internal a delivery to this subscriber is running */
  busy = false;
  /** @internal versions kept for later (the hot path checks this, not `pending`) */
  kept = 0;
  /** @internal false once unsubscribed */
  live = true;
  /** @internal when it fell behind (-1: it is not behind) */
  behindSince = -1;
  /** @internal kept versions (sync, queue) as parallel arrays from `head`; `latest` keeps one */
  private keptValues: T[] | undefined;
  private keptVersions: number[] | undefined;
  private head = 0;
  private latestVersion = 0;
  private latestValue: T | undefined;

  /** @internal */
  constructor(
    private readonly topic: Topic<T>,
    readonly listener: Listener<T>,
    readonly mode: number,
    readonly limit: number,
    readonly overflowError: boolean,
    since: number,
    label: string | undefined,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.since = since;
    this.label = label;
  }

  /** True until unsubscribed (or the topic closed). */
  get subscribed(): boolean {
    return this.live;
  }

  /** Versions published but not yet delivered to this subscriber. */
  get pending(): number {
    return this.kept;
  }

  /** How long this subscriber has been behind (busy or with versions waiting), or 0. */
  get behindMs(): number {
    return this.behindSince < 0 ? 0 : this.topic.now() - this.behindSince;
  }

  unsubscribe(): void {
    if (!this.live) return;
    this.live = false;
    this.kept = 0;
    this.keptValues = this.keptVersions = undefined;
    this.latestValue = undefined;
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    this.topic.remove(this);
  }

  [Symbol.dispose](): void {
    this.unsubscribe();
  }

  /** @internal made only when a signal is given (no closure per plain subscribe) */
  onAbort: (() => void) | undefined;

  /** @internal keep a version for later; false when the subscriber had to go (overflow: error) */
  keep(value: T, version: number): boolean {
    if (this.mode === LATEST) {
      this.latestValue = value;
      this.latestVersion = version;
      this.kept = 1;
      return true;
    }
    this.keptValues ??= [];
    this.keptVersions ??= [];
    if (this.mode === QUEUE && this.keptVersions.length - this.head >= this.limit) {
      if (this.overflowError) return false;
      const dropped = this.keptVersions[this.head]!;
      this.keptValues[this.head] = undefined as T;
      this.head++;
      this.dropped++;
      if (channels.drop.hasSubscribers)
        channels.drop.publish({ topic: this.topic.name, version: dropped, subscription: this });
    }
    this.keptValues.push(value);
    this.keptVersions.push(version);
    this.kept = this.keptVersions.length - this.head;
    return true;
  }

  /** @internal the next kept version, or false */
  take(out: { value: T | undefined; version: number }): boolean {
    if (this.mode === LATEST) {
      if (this.kept === 0) return false;
      out.value = this.latestValue;
      out.version = this.latestVersion;
      this.latestValue = undefined;
      this.kept = 0;
      return true;
    }
    const versions = this.keptVersions;
    if (!versions || this.head >= versions.length) return false;
    out.value = this.keptValues![this.head];
    out.version = versions[this.head]!;
    this.keptValues![this.head] = undefined as T;
    if (++this.head === versions.length) {
      versions.length = 0;
      this.keptValues!.length = 0;
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
  /** @internal */
  readonly now: () => number;
  private readonly replay: boolean;
  private readonly onError: TopicOptions<T>['onError'];
  private first: Subscription<T> | null = null;
  private last: Subscription<T> | null = null;
  private count = 0;
  private versionNow = 0;
  private value: T | undefined;
  private closed = false;
  // Publishes made while a publish is delivering wait here, so every subscriber sees versions in order.
  private delivering = false;
  private readonly waitingValues: T[] = [];
  private readonly waitingVersions: number[] = [];

  constructor(options: TopicOptions<T> = {}) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError(
        `options must be an object, got ${options === null ? 'null' : typeof options}`,
      );
    }
    if (options.replay !== undefined && typeof options.replay !== 'boolean') {
      throw new TypeError(`options.replay must be a boolean, got ${typeof options.replay}`);
    }
    for (const k of ['onError', 'now'] as const) {
      if (options[k] !== undefined && typeof options[k] !== 'function') {
        throw new TypeError(`options.${k} must be a function, got ${typeof options[k]}`);
      }
    }
    if (options.name !== undefined && typeof options.name !== 'string') {
      throw new TypeError(`options.name must be a string, got ${typeof options.name}`);
    }
    this.name = options.name ?? `topic#${++topics}`;
    this.replay = options.replay ?? true;
    this.onError = options.onError;
    this.now = options.now ?? (() => performance.now());
  }

  /** The latest value and its version, or undefined before the first publish. */
  get current(): { value: T; version: number } | undefined {
    return this.versionNow === 0 ? undefined : { value: this.value as T, version: this.versionNow };
  }

  /** The latest version (0 before the first publish). */
  get version(): number {
    return this.versionNow;
  }

  /** Subscriptions registered now. */
  get size(): number {
    return this.count;
  }

  /** Publishes a value; returns its version, one more than the previous. */
  publish(value: T): number {
    if (this.closed) throw new TopicClosedError(this.name);
    const version = ++this.versionNow;
    this.value = value;
    if (this.delivering) {
      this.waitingValues.push(value);
      this.waitingVersions.push(version);
      return version;
    }
    this.delivering = true;
    try {
      this.fanOut(value, version);
      if (this.waitingVersions.length !== 0) this.fanOutWaiting();
    } finally {
      this.delivering = false;
    }
    return version;
  }

  private fanOutWaiting(): void {
    try {
      for (let i = 0; i < this.waitingVersions.length; i++) {
        this.fanOut(this.waitingValues[i]!, this.waitingVersions[i]!);
      }
    } finally {
      this.waitingValues.length = 0;
      this.waitingVersions.length = 0;
    }
  }

  private fanOut(value: T, version: number): void {
    for (let s = this.first; s !== null; s = s.next) {
      if (!s.live || s.since >= version) continue;
      if (s.busy || s.kept !== 0) this.offerLater(s, value, version);
      else this.deliver(s, value, version);
    }
  }

  private offerLater(s: Subscription<T>, value: T, version: number): void {
    if (s.behindSince < 0) s.behindSince = this.now();
    if (!s.keep(value, version)) {
      this.report(new QueueOverflowError(this.name, s.limit, s.version, version), s);
      s.unsubscribe();
    } else if (!s.busy) this.drain(s);
  }

  /** Calls the listener once; an async one leaves the subscriber busy until it settles. */
  private deliver(s: Subscription<T>, value: T, version: number): void {
    s.version = version;
    s.delivered++;
    s.busy = true;
    let r: unknown;
    try {
      r = s.listener(value, version);
    } catch (err) {
      s.busy = false;
      this.report(err, s);
      if (s.kept !== 0) this.drain(s);
      return;
    }
    s.busy = false;
    if (r !== undefined && isThenable(r)) this.awaitDelivery(s, r);
    else if (s.kept !== 0) this.drain(s); // it published to itself from inside
  }

  private awaitDelivery(s: Subscription<T>, r: PromiseLike<unknown>): void {
    s.busy = true;
    if (s.behindSince < 0) s.behindSince = this.now();
    r.then(
      () => this.settled(s),
      (err: unknown) => {
        this.report(err, s);
        this.settled(s);
      },
    );
  }

  private settled(s: Subscription<T>): void {
    s.busy = false;
    this.drain(s);
  }

  private drain(s: Subscription<T>): void {
    const out = scratch as { value: T | undefined; version: number };
    while (s.live && !s.busy && s.take(out)) {
      const value = out.value as T;
      out.value = undefined;
      this.deliver(s, value, out.version);
    }
    if (!s.busy && s.kept === 0) s.behindSince = -1;
  }

  private report(err: unknown, s: Subscription<T>): void {
    s.errors++;
    if (channels.error.hasSubscribers)
      channels.error.publish({ topic: this.name, error: err, subscription: s });
    if (!this.onError) return;
    try {
      this.onError(err, s);
    } catch (again) {
      process.emitWarning(
        `onError of topic ${this.name} threw: ${String(again)}`,
        'HalfopenRegistryWarning',
      );
    }
  }

  /**
   * Registers `listener`. With replay on and a value published, the listener receives the
   * current value before subscribe returns: reading the state and registering are one step.
   */
  subscribe(listener: Listener<T>, options: SubscribeOptions = {}): Subscription<T> {
    if (typeof listener !== 'function')
      throw new TypeError(`listener must be a function, got ${typeof listener}`);
    if (options === null || typeof options !== 'object')
      throw new TypeError('options must be an object');
    const { mode, limit, overflowError } = parseDelivery(options.delivery);
    const { signal, label } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError('options.signal must be an AbortSignal');
    }
    if (this.closed) throw new TopicClosedError(this.name);
    const s = new Subscription<T>(
      this,
      listener,
      mode,
      limit,
      overflowError,
      this.versionNow,
      label,
      signal,
    );
    if (signal?.aborted) {
      s.unsubscribe();
      return s;
    }
    if (signal) {
      s.onAbort = () => s.unsubscribe();
      signal.addEventListener('abort', s.onAbort, { once: true });
    }
    if (this.last) {
      this.last.next = s;
      s.prev = this.last;
    } else this.first = s;
    this.last = s;
    this.count++;
    if (this.replay && this.versionNow > 0) {
      this.deliver(s, this.value as T, this.versionNow);
    }
    return s;
  }

  /** @internal */
  remove(s: Subscription<T>): void {
    const { prev, next } = s;
    if (prev === null && this.first !== s) return; // never linked (subscribed with an aborted signal)
    if (prev) prev.next = next;
    else if (this.first === s) this.first = next;
    if (next) next.prev = prev;
    else if (this.last === s) this.last = prev;
    s.prev = null; // `next` stays: a publish standing on s walks on from it
    this.count--;
  }

  /** Subscriptions behind (busy, or with versions waiting) for at least `thresholdMs`. */
  lagging(thresholdMs: number): Subscription<T>[] {
    if (typeof thresholdMs !== 'number' || !(thresholdMs >= 0)) {
      throw new RangeError(`thresholdMs must be a number >= 0, got ${String(thresholdMs)}`);
    }
    const now = this.now();
    const out: Subscription<T>[] = [];
    for (let s = this.first; s !== null; s = s.next) {
      if (s.behindSince >= 0 && now - s.behindSince >= thresholdMs) out.push(s);
    }
    return out;
  }

  /** Unsubscribes everyone; publish and subscribe throw afterwards. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let s = this.first; s !== null; s = s.next) s.unsubscribe();
    this.value = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function parseDelivery(d: Delivery | undefined): {
  mode: number;
  limit: number;
  overflowError: boolean;
} {
  if (d === undefined || d === 'sync') return { mode: SYNC, limit: 0, overflowError: false };
  if (d === 'latest') return { mode: LATEST, limit: 0, overflowError: false };
  if (d !== null && typeof d === 'object') {
    if (!Number.isSafeInteger(d.queue) || d.queue < 1) {
      throw new RangeError(
        `options.delivery.queue must be an integer >= 1, got ${String(d.queue)}`,
      );
    }
    if (d.overflow !== 'drop-oldest' && d.overflow !== 'error') {
      throw new TypeError(
        `options.delivery.overflow must be 'drop-oldest' or 'error', got ${String(d.overflow)}`,
      );
    }
    return { mode: QUEUE, limit: d.queue, overflowError: d.overflow === 'error' };
  }
  throw new TypeError(
    `options.delivery must be 'sync', 'latest' or { queue, overflow }, got ${String(d)}`,
  );
}
