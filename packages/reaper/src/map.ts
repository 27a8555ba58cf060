import {
  bool,
  callUser,
  callUserAsync,
  checkOptions,
  count,
  DeadlineHeap,
  describe,
  fn,
  fraction,
  Lifecycle,
  longTimeout,
  MAX_TIMER_MS,
  ms,
  publish,
} from '@halfopen/internal';
import { channels } from './diagnostics.js';
import { ReaperError } from './errors.js';

/** Why an entry left the map. */
export type ReapReason = 'idle' | 'lifetime' | 'peer-closed' | 'removed' | 'capacity' | 'closed';

/** What is known about a reaped entry, for the `reap` event and diagnostics. */
export interface ReapInfo {
  reason: ReapReason;
  /** Time since the entry was set. */
  ageMs: number;
  /** Time since it was last used (got, leased or released). */
  idleMs: number;
}

export interface ConnectionMapOptions<K, C> {
  /** Reap entries unused for this long (any finite value; 0 = off). Default: 0 (off). */
  idleTimeoutMs?: number;
  /** Reap entries older than this, used or not (a drained backend's busy connection too; 0 = off). Default: 0 (off). */
  maxLifetimeMs?: number;
  /** Fraction (0..1) of `maxLifetimeMs` taken off at random per entry. Default: 0. */
  lifetimeJitter?: number;
  /** Most entries; setting one more reaps the least recently used idle entry. Default: unbounded. */
  maxSize?: number;
  /**
   * Closes a reaped value. Default, for socket-like values: `end()`, then `destroy()` after
   * `graceMs` unless it closed by then; other values are left alone.
   */
  close?: (conn: C, reason: ReapReason, key: K) => void;
  /** With the default close: how long `end()` may take before `destroy()` (0 = destroy at once). Default: 1000. */
  graceMs?: number;
  /** Remove an entry when its value emits `close`, `end` or `error` (identity-checked). Default: true. */
  evictOnClose?: boolean;
  /** Name for errors and diagnostics. Default: `'connection-map'`. */
  name?: string;
  /** Clock in ms. Default: `performance.now`. */
  now?: () => number;
  /** Random source for `lifetimeJitter` (values outside 0..1 count as 0). Default: `Math.random`. */
  random?: () => number;
}

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
] as const;

export interface ConnectionMapStats {
  size: number;
  /** Entries with at least one lease. */
  inUse: number;
  /** Leased values already removed from the map, to be closed on release. */
  closingOnRelease: number;
  reaped: Record<ReapReason, number>;
}

/** A lease on an entry: it is never reaped while leased. Release exactly once (further calls are no-ops). */
export interface Lease<C> extends Disposable {
  readonly conn: C;
  release(): void;
}

/** The map's one event: `reap (key, conn, info)` for every value that leaves it. */
export interface ConnectionMapEvents<K, C> {
  reap: [key: K, conn: C, info: ReapInfo];
}
type ReapListener<K, C> = (...args: ConnectionMapEvents<K, C>['reap']) => void;

type Emitterish = {
  on(e: string, f: (...args: unknown[]) => void): unknown;
  removeListener(e: string, f: (...args: unknown[]) => void): unknown;
};
type Socketish = { end(): unknown; destroy(): unknown; destroyed?: boolean };

const isEmitter = (c: unknown): c is Emitterish =>
  c !== null &&
  typeof c === 'object' &&
  typeof (c as Emitterish).on === 'function' &&
  typeof (c as Emitterish).removeListener === 'function';
const isSocketish = (c: unknown): c is Socketish =>
  c !== null &&
  typeof c === 'object' &&
  typeof (c as Socketish).end === 'function' &&
  typeof (c as Socketish).destroy === 'function';
const isDestroyed = (c: unknown): boolean =>
  c !== null && typeof c === 'object' && (c as Socketish).destroyed === true;

// A value the map is closing keeps an 'error' listener until it emits 'close': a peer that
// answers our FIN with RST must not crash the process, nor an error a socket was destroyed
// with (destroy(err) sets `destroyed` and `closed` at once, emits 'error' a tick later and
// 'close' after that). Listeners run with `this` = emitter; a value is guarded once.
const guarded = new WeakSet<object>();
function ignoreError(): void {}
function unguard(this: Emitterish): void {
  guarded.delete(this);
  this.removeListener('error', ignoreError);
  this.removeListener('close', unguard);
}
/**
 * Whether a Node stream's destroy has run its course: its state says 'close' was emitted (set
 * right after the destroy error, if any, was emitted; net.Socket's own 'close' may still follow,
 * but no error will). A value that does not say is guarded (its 'close' may still come).
 */
const errorsOver = (c: object): boolean => {
  const s = c as { _readableState?: { closeEmitted?: unknown } };
  const w = c as { _writableState?: { closeEmitted?: unknown } };
  return s._readableState?.closeEmitted === true || w._writableState?.closeEmitted === true;
};

class Entry<K, C> {
  prev: Entry<K, C> | null = null;
  next: Entry<K, C> | null = null;
  heapIndex = -1;
  leases = 0;
  /** Set when it must go but is leased: closed on the last release. */
  doomed: ReapReason | undefined = undefined;
  /** Removed from the map (the key may hold a newer entry). */
  gone = false;
  onPeerClose: (() => void) | undefined = undefined;
  constructor(
    readonly key: K,
    readonly conn: C,
    readonly createdAt: number,
    public lastUsed: number,
    public deadline: number,
  ) {}
}

/** A factory call in flight for a key; `removed` when the key left the map meanwhile. */
interface Dial<C> {
  promise: Promise<C>;
  removed: boolean;
}

/**
 * A key -> connection map that closes what it no longer needs: idle entries, entries past
 * their lifetime, entries whose peer closed, entries whose key left the live set.
 * Lookups are O(1) and allocate nothing; reaping costs O(entries reaped) on one timer.
 */
export class ConnectionMap<K, C> implements AsyncDisposable {
  readonly name: string;
  readonly #entries = new Map<K, Entry<K, C>>();
  readonly #dials = new Map<K, Dial<C>>();
  readonly #lifetimes = new DeadlineHeap<Entry<K, C>>();
  /** Leased entries already out of the map, closed on their last release (or at close()). */
  readonly #doomed = new Set<Entry<K, C>>();
  // Least recently used first; leased entries are not in the list.
  #head: Entry<K, C> | null = null;
  #tail: Entry<K, C> | null = null;
  #leased = 0;
  readonly #reaped: Record<ReapReason, number> = {
    idle: 0,
    lifetime: 0,
    'peer-closed': 0,
    removed: 0,
    capacity: 0,
    closed: 0,
  };
  readonly #closedConns = new WeakSet<object>();
  #onReap: ReadonlyArray<ReapListener<K, C>> = [];
  // Pending getOrCreate promises: close() rejects them. The sweep timer below is the map's
  // own: one timer re-armed for the earliest deadline (Lifecycle.timeout would allocate a
  // chained timer per re-arm on the set/release path).
  readonly #life = new Lifecycle();
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  readonly #idleTimeoutMs: number;
  readonly #maxLifetimeMs: number;
  readonly #lifetimeJitter: number;
  readonly #maxSize: number;
  readonly #graceMs: number;
  readonly #evictOnClose: boolean;
  readonly #closeFn: ConnectionMapOptions<K, C>['close'];
  readonly #now: () => number;
  readonly #random: () => number;
  // With the default clock, a burst of lookups in one synchronous run reads it once.
  readonly #cacheClock: boolean;
  #cachedNow = -1;
  readonly #clearClock = () => {
    this.#cachedNow = -1;
  };
  readonly #report = (error: unknown) => this.#reportFailure(error);

  constructor(options?: ConnectionMapOptions<K, C>) {
    const o = checkOptions(options, KEYS);
    // The sweep timer is re-armed in steps of at most 2^31-1 ms, so any finite time works.
    const long = { default: 0, zeroOff: true, max: Number.MAX_SAFE_INTEGER };
    this.#idleTimeoutMs = ms(o.idleTimeoutMs, 'options.idleTimeoutMs', long);
    this.#maxLifetimeMs = ms(o.maxLifetimeMs, 'options.maxLifetimeMs', long);
    this.#lifetimeJitter = fraction(o.lifetimeJitter, 'options.lifetimeJitter', { default: 0 });
    this.#maxSize =
      o.maxSize === undefined
        ? Number.POSITIVE_INFINITY
        : count(o.maxSize, 'options.maxSize', { min: 1 });
    this.#graceMs = ms(o.graceMs, 'options.graceMs', {
      default: 1000,
      max: Number.MAX_SAFE_INTEGER,
    });
    this.#evictOnClose = bool(o.evictOnClose, 'options.evictOnClose', true);
    this.#closeFn = fn(o.close, 'options.close');
    const now = fn(o.now, 'options.now');
    this.#now = now ?? (() => performance.now());
    this.#cacheClock = now === undefined;
    this.#random = fn(o.random, 'options.random') ?? Math.random;
    if (o.name !== undefined && typeof o.name !== 'string') {
      throw new TypeError(`options.name must be a string, got ${describe(o.name)}`);
    }
    this.name = o.name ?? 'connection-map';
  }

  get size(): number {
    return this.#entries.size;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** The value for `key`, marking it used now (O(1), no allocation). */
  get(key: K): C | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (e.leases === 0) this.#touch(e, this.#lookupTime());
    return e.conn;
  }

  /** The value for `key` without marking it used. */
  peek(key: K): C | undefined {
    return this.#entries.get(key)?.conn;
  }

  /**
   * Stores `conn` under `key`; a different value already there is reaped as `removed`. A value
   * already destroyed is not kept (reaped as `peer-closed` at once). Throws
   * HALFOPEN_ERR_REAPER_CLOSED after `close()`. A `'reap'` listener that sets `key` while this
   * call replaces its value loses: `conn` is stored and the listener's value is reaped as
   * `removed`; one that closes the map makes this call close `conn` (reaped as `closed`) and throw
   * HALFOPEN_ERR_REAPER_CLOSED.
   */
  set(key: K, conn: C): this {
    if (this.#life.closed) throw this.#closedError('set');
    // A loop: the reap runs 'reap' listeners, which may set this key again or close the map.
    for (let old = this.#entries.get(key); old !== undefined; old = this.#entries.get(key)) {
      if (old.conn === conn) {
        if (old.leases === 0) this.#touch(old, this.#now());
        return this;
      }
      this.#reap(old, 'removed');
    }
    const now = this.#now();
    if (this.#life.closed) {
      this.#reap(new Entry(key, conn, now, now, 0), 'closed');
      throw this.#closedError('set');
    }
    const r = this.#maxLifetimeMs > 0 ? this.#random() : 0;
    const deadline =
      this.#maxLifetimeMs > 0
        ? now + this.#maxLifetimeMs * (1 - this.#lifetimeJitter * (r >= 0 && r <= 1 ? r : 0))
        : Number.POSITIVE_INFINITY;
    const e = new Entry(key, conn, now, now, deadline);
    if (isDestroyed(conn)) {
      // Its 'close' is long gone: kept, it would never leave.
      this.#reap(e, 'peer-closed');
      return this;
    }
    this.#entries.set(key, e);
    this.#append(e);
    if (this.#maxLifetimeMs > 0) this.#lifetimes.push(e);
    if (this.#evictOnClose && isEmitter(conn)) {
      e.onPeerClose = () => {
        if (!e.gone) this.#reap(e, 'peer-closed');
      };
      conn.on('close', e.onPeerClose);
      conn.on('end', e.onPeerClose);
      conn.on('error', e.onPeerClose);
    }
    while (this.#entries.size > this.#maxSize && this.#head !== null && this.#head !== e)
      this.#reap(this.#head, 'capacity');
    this.#arm(
      Math.min(
        e.deadline,
        this.#idleTimeoutMs > 0 ? now + this.#idleTimeoutMs : Number.POSITIVE_INFINITY,
      ),
    );
    return this;
  }

  /**
   * The value for `key`, creating it with `factory` if absent. Concurrent callers for one key
   * share one factory call; a failed factory is not cached. Rejects with
   * HALFOPEN_ERR_REAPER_CLOSED when the map is closed (before or while the factory runs: the
   * value it makes then is closed), HALFOPEN_ERR_REAPER_REMOVED when `retain()` or `delete()`
   * removed the key while the factory ran (its value is closed), HALFOPEN_ERR_REAPER_REAPED
   * when the value was not kept (already destroyed).
   */
  getOrCreate(key: K, factory: (key: K) => C | PromiseLike<C>): Promise<C> {
    if (this.#life.closed) return Promise.reject(this.#closedError('getOrCreate'));
    if (typeof factory !== 'function') {
      return Promise.reject(new TypeError(`factory must be a function, got ${describe(factory)}`));
    }
    const have = this.get(key);
    if (have !== undefined) return Promise.resolve(have);
    let d = this.#dials.get(key);
    if (d === undefined) {
      const dial: Dial<C> = { promise: undefined as never, removed: false };
      dial.promise = this.#life.track(this.#dial(key, factory, dial), () =>
        this.#closedError('getOrCreate'),
      );
      this.#dials.set(key, dial);
      d = dial;
    }
    return d.promise;
  }

  /**
   * Leases the entry for `key` (creating it with `factory` if given and absent): it is not
   * reaped until released. Rejects like `getOrCreate`, and with HALFOPEN_ERR_REAPER_NO_ENTRY
   * for a missing key without a factory.
   */
  async acquire(key: K, factory?: (key: K) => C | PromiseLike<C>): Promise<Lease<C>> {
    if (this.#life.closed) throw this.#closedError('acquire');
    if (!this.#entries.has(key)) {
      if (factory === undefined) {
        throw new ReaperError(
          'HALFOPEN_ERR_REAPER_NO_ENTRY',
          this.name,
          `ConnectionMap ${this.name}: no entry for key ${describe(key)} and no factory`,
        );
      }
      await this.getOrCreate(key, factory);
      if (this.#life.closed) throw this.#closedError('acquire');
    }
    const e = this.#entries.get(key);
    if (e === undefined) {
      throw new ReaperError(
        'HALFOPEN_ERR_REAPER_REAPED',
        this.name,
        `ConnectionMap ${this.name}: the entry for key ${describe(key)} was reaped before it could be leased`,
      );
    }
    if (e.leases++ === 0) {
      this.#unlinkIdle(e);
      this.#leased++;
    }
    e.lastUsed = this.#now();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#release(e);
    };
    return { conn: e.conn, release, [Symbol.dispose]: release };
  }

  /**
   * Removes `key` (only if its value is `conn`, when given); returns whether it did. Without
   * `conn`, a factory still running for `key` is cancelled too (its value is closed).
   */
  delete(key: K, conn?: C): boolean {
    const cancelled = conn === undefined && this.#cancelDial(key);
    const e = this.#entries.get(key);
    if (e === undefined || (conn !== undefined && e.conn !== conn)) return cancelled;
    this.#reap(e, 'removed');
    return true;
  }

  /**
   * Reaps every entry whose key is not in `keys` (the live set from a name service) and
   * cancels factories still running for such keys (their values are closed when they come).
   * Returns how many entries it reaped.
   */
  retain(keys: Iterable<K>): number {
    if (keys === null || typeof (keys as Iterable<K>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`keys must be iterable, got ${describe(keys)}`);
    }
    const live = keys instanceof Set ? (keys as Set<K>) : new Set(keys);
    for (const k of [...this.#dials.keys()]) if (!live.has(k)) this.#cancelDial(k);
    let n = 0;
    for (const e of [...this.#entries.values()]) {
      if (!live.has(e.key)) {
        this.#reap(e, 'removed');
        n++;
      }
    }
    return n;
  }

  /** Reaps what is due now (idle, lifetime); returns how many. Runs by itself on the map's timer. */
  sweep(): number {
    const now = this.#now();
    let n = 0;
    if (this.#idleTimeoutMs > 0) {
      while (this.#head !== null && now - this.#head.lastUsed >= this.#idleTimeoutMs) {
        this.#reap(this.#head, 'idle');
        n++;
      }
    }
    for (
      let e = this.#lifetimes.peek();
      e !== undefined && e.deadline <= now;
      e = this.#lifetimes.peek()
    ) {
      this.#lifetimes.remove(e);
      this.#reap(e, 'lifetime');
      n++;
    }
    return n;
  }

  stats(): ConnectionMapStats {
    return {
      size: this.#entries.size,
      inUse: this.#leased,
      closingOnRelease: this.#doomed.size,
      reaped: { ...this.#reaped },
    };
  }

  /**
   * Listens for `reap (key, conn, info)`, the map's one event. A listener that throws (or
   * rejects) is reported (a process warning and `halfopen:reaper:error`) and never stops the
   * reap or the timer.
   */
  on(event: 'reap', listener: ReapListener<K, C>): this {
    this.#checkListener(event, listener);
    this.#onReap = [...this.#onReap, listener];
    return this;
  }

  /** Stops listening (the last registration of `listener`). */
  off(event: 'reap', listener: ReapListener<K, C>): this {
    this.#checkListener(event, listener);
    const i = this.#onReap.lastIndexOf(listener);
    if (i >= 0) this.#onReap = this.#onReap.filter((_, j) => j !== i);
    return this;
  }

  /**
   * Reaps everything (`closed`), leased or not, closes the values of factories still running
   * when they come, rejects their callers with HALFOPEN_ERR_REAPER_CLOSED and stops the timer.
   * Later calls (set, getOrCreate, acquire) fail with that code; a lease released afterwards
   * does nothing. Idempotent.
   */
  async close(): Promise<void> {
    if (!this.#life.close(this.#closedError('getOrCreate'))) return;
    this.#dials.clear();
    this.#disarm();
    for (const e of [...this.#entries.values()]) {
      e.leases = 0;
      this.#reap(e, 'closed');
    }
    for (const e of [...this.#doomed]) {
      e.leases = 0;
      this.#doomed.delete(e);
      this.#finish(e, e.doomed ?? 'closed');
    }
    this.#leased = 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #dial(key: K, factory: (key: K) => C | PromiseLike<C>, dial: Dial<C>): Promise<C> {
    let conn: C;
    try {
      conn = await callUserAsync(factory, [key]);
    } finally {
      if (this.#dials.get(key) === dial) this.#dials.delete(key);
    }
    if (conn === undefined || conn === null) {
      throw new TypeError(`factory for key ${describe(key)} returned ${describe(conn)}`);
    }
    const closed = this.#life.closed;
    if (closed || dial.removed) {
      // Nobody may own it but us: it is reaped (explained and closed), never stored.
      const now = this.#now();
      this.#reap(new Entry(key, conn, now, now, 0), closed ? 'closed' : 'removed');
      if (closed) throw this.#closedError('getOrCreate');
      throw new ReaperError(
        'HALFOPEN_ERR_REAPER_REMOVED',
        this.name,
        `ConnectionMap ${this.name}: key ${describe(key)} was removed while its connection was being made; the new connection was closed`,
      );
    }
    const current = this.#entries.get(key);
    if (current !== undefined && current.conn !== conn) {
      // set() put another value there meanwhile: that one wins, ours must not be orphaned.
      const now = this.#now();
      this.#reap(new Entry(key, conn, now, now, 0), 'removed');
      return current.conn;
    }
    this.set(key, conn);
    if (this.#entries.get(key)?.conn !== conn) {
      throw new ReaperError(
        'HALFOPEN_ERR_REAPER_REAPED',
        this.name,
        `ConnectionMap ${this.name}: the value made for key ${describe(key)} was already closed; it was not kept`,
      );
    }
    return conn;
  }

  #cancelDial(key: K): boolean {
    const d = this.#dials.get(key);
    if (d === undefined) return false;
    d.removed = true;
    this.#dials.delete(key);
    return true;
  }

  #checkListener(event: unknown, listener: unknown): void {
    if (event !== 'reap') {
      throw new TypeError(`ConnectionMap emits only 'reap', got ${describe(event)}`);
    }
    if (typeof listener !== 'function') {
      throw new TypeError(`listener must be a function, got ${describe(listener)}`);
    }
  }

  #closedError(what: string): ReaperError {
    return new ReaperError(
      'HALFOPEN_ERR_REAPER_CLOSED',
      this.name,
      `ConnectionMap ${this.name} is closed; ${what}() refused`,
    );
  }

  #reportFailure(error: unknown): void {
    const why = error instanceof Error ? error.message : describe(error);
    const err = new ReaperError(
      'HALFOPEN_ERR_REAPER_CALLBACK',
      this.name,
      `a callback of ConnectionMap ${this.name} failed: ${why}`,
      { cause: error },
    );
    publish(channels.error, { map: this.name, error: err });
    process.emitWarning(err);
  }

  #lookupTime(): number {
    if (!this.#cacheClock) return this.#now();
    if (this.#cachedNow < 0) {
      this.#cachedNow = this.#now();
      queueMicrotask(this.#clearClock);
    }
    return this.#cachedNow;
  }

  #touch(e: Entry<K, C>, now: number): void {
    e.lastUsed = now;
    if (this.#tail === e) return;
    this.#unlinkIdle(e);
    this.#append(e);
  }

  #append(e: Entry<K, C>): void {
    e.prev = this.#tail;
    e.next = null;
    if (this.#tail) this.#tail.next = e;
    else this.#head = e;
    this.#tail = e;
  }

  #unlinkIdle(e: Entry<K, C>): void {
    if (e.prev) e.prev.next = e.next;
    else if (this.#head === e) this.#head = e.next;
    if (e.next) e.next.prev = e.prev;
    else if (this.#tail === e) this.#tail = e.prev;
    e.prev = e.next = null;
  }

  #release(e: Entry<K, C>): void {
    // 0 after close(): the lease outlived the map, which already closed the value.
    if (e.leases === 0 || --e.leases > 0) return;
    this.#leased--;
    if (e.gone) {
      this.#doomed.delete(e);
      this.#finish(e, e.doomed ?? 'removed');
      return;
    }
    const now = this.#now();
    e.lastUsed = now;
    this.#append(e);
    if (e.deadline <= now) this.#reap(e, 'lifetime');
    else if (this.#idleTimeoutMs > 0) this.#arm(now + this.#idleTimeoutMs);
  }

  /** Removes the entry from the map; closes its value now, or on release when leased. */
  #reap(e: Entry<K, C>, reason: ReapReason): void {
    if (e.gone) return;
    e.gone = true;
    if (this.#entries.get(e.key) === e) this.#entries.delete(e.key);
    this.#unlinkIdle(e);
    this.#lifetimes.remove(e);
    const conn = e.conn as unknown;
    if (isEmitter(conn)) {
      if (e.onPeerClose) {
        conn.removeListener('close', e.onPeerClose);
        conn.removeListener('end', e.onPeerClose);
        conn.removeListener('error', e.onPeerClose);
      }
      // From here until it closes, an 'error' (an RST answering our FIN) is expected.
      if (!guarded.has(conn) && !errorsOver(conn)) {
        guarded.add(conn);
        conn.on('error', ignoreError);
        conn.on('close', unguard);
      }
    }
    this.#reaped[reason]++;
    const now = this.#now();
    const info: ReapInfo = { reason, ageMs: now - e.createdAt, idleMs: now - e.lastUsed };
    publish(channels.reap, { map: this.name, key: e.key, conn: e.conn, ...info });
    for (const listener of this.#onReap) callUser(listener, [e.key, e.conn, info], this.#report);
    if (e.leases > 0) {
      e.doomed = reason;
      this.#doomed.add(e);
    } else this.#finish(e, reason);
    if (this.#entries.size === 0) this.#disarm();
  }

  /** Closes a value at most once. */
  #finish(e: Entry<K, C>, reason: ReapReason): void {
    const conn = e.conn as unknown;
    if (conn !== null && typeof conn === 'object') {
      if (this.#closedConns.has(conn)) return;
      this.#closedConns.add(conn);
    }
    if (this.#closeFn) {
      callUser(this.#closeFn, [e.conn, reason, e.key], this.#report);
      return;
    }
    if (!isSocketish(conn) || conn.destroyed === true) return;
    callUser(conn.end, [], this.#report, conn);
    if (this.#graceMs === 0) {
      callUser(conn.destroy, [], this.#report, conn);
      return;
    }
    const grace = longTimeout(() => callUser(conn.destroy, [], this.#report, conn), this.#graceMs);
    if (isEmitter(conn)) {
      const closed = () => {
        grace.cancel();
        conn.removeListener('close', closed);
      };
      conn.on('close', closed);
    }
  }

  /** Makes sure the timer fires by `at` (it may fire early; sweep then re-arms for what is left). */
  #arm(at: number): void {
    if (!Number.isFinite(at) || at >= this.#timerAt || this.#life.closed) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // At most 2^31-1 ms: past that Node fires after 1 ms; a far deadline is reached in steps.
    const delay = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(at - this.#now())));
    this.#timer = setTimeout(() => this.#onTimer(), delay);
    this.#timer.unref();
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  #onTimer(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.sweep();
    const next = Math.min(
      this.#head !== null && this.#idleTimeoutMs > 0
        ? this.#head.lastUsed + this.#idleTimeoutMs
        : Number.POSITIVE_INFINITY,
      this.#lifetimes.peek()?.deadline ?? Number.POSITIVE_INFINITY,
    );
    this.#arm(next);
  }
}
