import { EventEmitter } from 'eventemitter3';
import { channels } from './diagnostics.js';
import { DeadlineHeap } from './heap.js';

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
  /** Reap entries unused for this long. Default: off. */
  idleTimeoutMs?: number;
  /** Reap entries older than this, used or not (a drained backend's busy connection too). Default: off. */
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
  /** With the default close: how long `end()` may take before `destroy()`. Default: 1000. */
  graceMs?: number;
  /** Remove an entry when its value emits `close`, `end` or `error` (identity-checked). Default: true. */
  evictOnClose?: boolean;
  /** Name for diagnostics. */
  name?: string;
  /** Clock in ms. Default: `performance.now`. */
  now?: () => number;
  /** Random source for `lifetimeJitter`. Default: `Math.random`. */
  random?: () => number;
}

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

export interface ConnectionMapEvents<K, C> {
  reap: [key: K, conn: C, info: ReapInfo];
}

type Emitterish = {
  on(e: string, f: () => void): unknown;
  removeListener(e: string, f: () => void): unknown;
};
type Socketish = {
  end(): unknown;
  destroy(): unknown;
  once?(e: string, f: () => void): unknown;
  destroyed?: boolean;
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

function checkMs(
  options: object,
  name: string,
  { max = Number.POSITIVE_INFINITY, integer = false } = {},
): number {
  const v = (options as Record<string, unknown>)[name];
  if (v === undefined) return 0;
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw new TypeError(
      `options.${name} must be a number, got ${typeof v === 'string' ? `"${v}"` : String(v)}`,
    );
  }
  if (v < 0 || v > max || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new RangeError(
      `options.${name} must be ${integer ? 'an integer' : 'a finite number'} within 0..${max}, got ${v}`,
    );
  }
  return v;
}

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

/**
 * A key -> connection map that closes what it no longer needs: idle entries, entries past
 * their lifetime, entries whose peer closed, entries whose key left the live set.
 * Lookups are O(1) and allocate nothing; reaping costs O(entries reaped) on one timer.
 */
export class ConnectionMap<K, C>
  extends EventEmitter<ConnectionMapEvents<K, C>>
  implements AsyncDisposable
{
  readonly name: string;
  private readonly entries = new Map<K, Entry<K, C>>();
  private readonly pending = new Map<K, Promise<C>>();
  private readonly lifetimes = new DeadlineHeap<Entry<K, C>>();
  // Least recently used first; leased entries are not in the list.
  private head: Entry<K, C> | null = null;
  private tail: Entry<K, C> | null = null;
  private leased = 0;
  private closingOnRelease = 0;
  private readonly reaped: Record<ReapReason, number> = {
    idle: 0,
    lifetime: 0,
    'peer-closed': 0,
    removed: 0,
    capacity: 0,
    closed: 0,
  };
  private readonly closedConns = new WeakSet<object>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private closed = false;
  private readonly idleTimeoutMs: number;
  private readonly maxLifetimeMs: number;
  private readonly lifetimeJitter: number;
  private readonly maxSize: number;
  private readonly graceMs: number;
  private readonly evictOnClose: boolean;
  private readonly closeFn: ConnectionMapOptions<K, C>['close'];
  private readonly now: () => number;
  private readonly random: () => number;
  // With the default clock, a burst of lookups in one synchronous run reads it once.
  private readonly cacheClock: boolean;
  private cachedNow = -1;
  private readonly clearClock = () => {
    this.cachedNow = -1;
  };

  constructor(options: ConnectionMapOptions<K, C> = {}) {
    super();
    if (options === null || typeof options !== 'object')
      throw new TypeError('options must be an object');
    this.idleTimeoutMs = checkMs(options, 'idleTimeoutMs');
    this.maxLifetimeMs = checkMs(options, 'maxLifetimeMs');
    this.lifetimeJitter = checkMs(options, 'lifetimeJitter', { max: 1 });
    this.maxSize =
      options.maxSize === undefined
        ? Number.POSITIVE_INFINITY
        : checkMs(options, 'maxSize', { integer: true });
    if (this.maxSize === 0) throw new RangeError('options.maxSize must be an integer >= 1, got 0');
    this.graceMs = options.graceMs === undefined ? 1000 : checkMs(options, 'graceMs');
    for (const k of ['close', 'now', 'random'] as const) {
      if (options[k] !== undefined && typeof options[k] !== 'function')
        throw new TypeError(`options.${k} must be a function`);
    }
    if (options.evictOnClose !== undefined && typeof options.evictOnClose !== 'boolean') {
      throw new TypeError('options.evictOnClose must be a boolean');
    }
    this.evictOnClose = options.evictOnClose ?? true;
    this.closeFn = options.close;
    this.now = options.now ?? (() => performance.now());
    this.cacheClock = options.now === undefined;
    this.random = options.random ?? Math.random;
    this.name = options.name ?? 'connection-map';
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The value for `key`, marking it used now (O(1), no allocation). */
  get(key: K): C | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.leases === 0) this.touch(e, this.lookupTime());
    return e.conn;
  }

  private lookupTime(): number {
    if (!this.cacheClock) return this.now();
    if (this.cachedNow < 0) {
      this.cachedNow = this.now();
      queueMicrotask(this.clearClock);
    }
    return this.cachedNow;
  }

  /** The value for `key` without marking it used. */
  peek(key: K): C | undefined {
    return this.entries.get(key)?.conn;
  }

  /** Stores `conn` under `key`; a different value already there is reaped as `removed`. */
  set(key: K, conn: C): this {
    if (this.closed) throw new Error(`ConnectionMap ${this.name} is closed`);
    const old = this.entries.get(key);
    if (old !== undefined) {
      if (old.conn === conn) {
        if (old.leases === 0) this.touch(old, this.now());
        return this;
      }
      this.reap(old, 'removed');
    }
    const now = this.now();
    const deadline =
      this.maxLifetimeMs > 0
        ? now + this.maxLifetimeMs * (1 - this.lifetimeJitter * this.random())
        : Number.POSITIVE_INFINITY;
    const e = new Entry(key, conn, now, now, deadline);
    this.entries.set(key, e);
    this.append(e);
    if (this.maxLifetimeMs > 0) this.lifetimes.push(e);
    if (this.evictOnClose && isEmitter(conn)) {
      e.onPeerClose = () => {
        if (!e.gone) this.reap(e, 'peer-closed');
      };
      conn.on('close', e.onPeerClose);
      conn.on('end', e.onPeerClose);
      conn.on('error', e.onPeerClose);
    }
    while (this.entries.size > this.maxSize && this.head !== null && this.head !== e)
      this.reap(this.head, 'capacity');
    this.arm(
      Math.min(
        e.deadline,
        this.idleTimeoutMs > 0 ? now + this.idleTimeoutMs : Number.POSITIVE_INFINITY,
      ),
    );
    return this;
  }

  /**
   * The value for `key`, creating it with `factory` if absent. Concurrent callers for one key
   * share one factory call; a failed factory is not cached.
   */
  getOrCreate(key: K, factory: (key: K) => C | Promise<C>): Promise<C> {
    const have = this.get(key);
    if (have !== undefined) return Promise.resolve(have);
    let p = this.pending.get(key);
    if (p === undefined) {
      p = (async () => {
        try {
          const conn = await factory(key);
          if (!this.closed && !this.entries.has(key)) this.set(key, conn);
          return this.entries.get(key)?.conn ?? conn;
        } finally {
          this.pending.delete(key);
        }
      })();
      this.pending.set(key, p);
    }
    return p;
  }

  /** Leases the entry for `key` (creating it with `factory` if given and absent): it is not reaped until released. */
  async acquire(key: K, factory?: (key: K) => C | Promise<C>): Promise<Lease<C>> {
    if (this.entries.get(key) === undefined) {
      if (!factory)
        throw new Error(
          `ConnectionMap ${this.name}: no entry for key ${String(key)} and no factory`,
        );
      await this.getOrCreate(key, factory);
    }
    const e = this.entries.get(key);
    if (e === undefined)
      throw new Error(
        `ConnectionMap ${this.name}: the entry for key ${String(key)} was reaped before it could be leased`,
      );
    if (e.leases++ === 0) {
      this.unlinkIdle(e);
      this.leased++;
    }
    e.lastUsed = this.now();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.release(e);
    };
    return { conn: e.conn, release, [Symbol.dispose]: release };
  }

  /** Removes `key` (only if its value is `conn`, when given); returns whether it did. */
  delete(key: K, conn?: C): boolean {
    const e = this.entries.get(key);
    if (e === undefined || (conn !== undefined && e.conn !== conn)) return false;
    this.reap(e, 'removed');
    return true;
  }

  /** Reaps every entry whose key is not in `keys` (the live set from a name service). Returns how many. */
  retain(keys: Iterable<K>): number {
    const live = keys instanceof Set ? (keys as Set<K>) : new Set(keys);
    let n = 0;
    for (const e of [...this.entries.values()]) {
      if (!live.has(e.key)) {
        this.reap(e, 'removed');
        n++;
      }
    }
    return n;
  }

  /** Reaps what is due now (idle, lifetime); returns how many. Runs by itself on the map's timer. */
  sweep(): number {
    const now = this.now();
    let n = 0;
    if (this.idleTimeoutMs > 0) {
      while (this.head !== null && now - this.head.lastUsed >= this.idleTimeoutMs) {
        this.reap(this.head, 'idle');
        n++;
      }
    }
    for (
      let e = this.lifetimes.peek();
      e !== undefined && e.deadline <= now;
      e = this.lifetimes.peek()
    ) {
      this.lifetimes.remove(e);
      this.reap(e, 'lifetime');
      n++;
    }
    return n;
  }

  stats(): ConnectionMapStats {
    return {
      size: this.entries.size,
      inUse: this.leased,
      closingOnRelease: this.closingOnRelease,
      reaped: { ...this.reaped },
    };
  }

  /** Reaps everything (`closed`, leased entries included) and stops the timer. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const e of [...this.entries.values()]) {
      e.leases = 0;
      this.reap(e, 'closed');
    }
    this.leased = 0;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private touch(e: Entry<K, C>, now: number): void {
    e.lastUsed = now;
    if (this.tail === e) return;
    this.unlinkIdle(e);
    this.append(e);
  }

  private append(e: Entry<K, C>): void {
    e.prev = this.tail;
    e.next = null;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
  }

  private unlinkIdle(e: Entry<K, C>): void {
    if (e.prev) e.prev.next = e.next;
    else if (this.head === e) this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else if (this.tail === e) this.tail = e.prev;
    e.prev = e.next = null;
  }

  private release(e: Entry<K, C>): void {
    if (--e.leases > 0) return;
    this.leased--;
    if (e.gone) {
      this.closingOnRelease--;
      this.finish(e, e.doomed ?? 'removed');
      return;
    }
    const now = this.now();
    e.lastUsed = now;
    this.append(e);
    if (e.deadline <= now) this.reap(e, 'lifetime');
    else if (this.idleTimeoutMs > 0) this.arm(now + this.idleTimeoutMs);
  }

  /** Removes the entry from the map; closes its value now, or on release when leased. */
  private reap(e: Entry<K, C>, reason: ReapReason): void {
    if (e.gone) return;
    e.gone = true;
    if (this.entries.get(e.key) === e) this.entries.delete(e.key);
    this.unlinkIdle(e);
    this.lifetimes.remove(e);
    if (e.onPeerClose && isEmitter(e.conn)) {
      e.conn.removeListener('close', e.onPeerClose);
      e.conn.removeListener('end', e.onPeerClose);
      e.conn.removeListener('error', e.onPeerClose);
    }
    this.reaped[reason]++;
    const now = this.now();
    const info: ReapInfo = { reason, ageMs: now - e.createdAt, idleMs: now - e.lastUsed };
    if (channels.reap.hasSubscribers)
      channels.reap.publish({ map: this.name, key: e.key, conn: e.conn, ...info });
    this.emit('reap', e.key, e.conn, info);
    if (e.leases > 0) {
      e.doomed = reason;
      this.closingOnRelease++;
    } else this.finish(e, reason);
    if (this.entries.size === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
    }
  }

  /** Closes a value at most once. */
  private finish(e: Entry<K, C>, reason: ReapReason): void {
    const conn = e.conn as unknown;
    if (conn !== null && typeof conn === 'object') {
      if (this.closedConns.has(conn)) return;
      this.closedConns.add(conn);
    }
    if (this.closeFn) {
      try {
        this.closeFn(e.conn, reason, e.key);
      } catch (err) {
        process.emitWarning(
          `close() of ConnectionMap ${this.name} threw: ${String(err)}`,
          'HalfopenReaperWarning',
        );
      }
      return;
    }
    if (!isSocketish(conn) || conn.destroyed) return;
    conn.end();
    if (this.graceMs === 0) {
      conn.destroy();
      return;
    }
    const t = setTimeout(() => conn.destroy(), this.graceMs);
    t.unref();
    conn.once?.('close', () => clearTimeout(t));
  }

  /** Makes sure the timer fires by `at` (it may fire early; sweep then re-arms for what is left). */
  private arm(at: number): void {
    if (!Number.isFinite(at) || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.onTimer(), Math.max(1, Math.ceil(at - this.now())));
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.sweep();
    const next = Math.min(
      this.head !== null && this.idleTimeoutMs > 0
        ? this.head.lastUsed + this.idleTimeoutMs
        : Number.POSITIVE_INFINITY,
      this.lifetimes.peek()?.deadline ?? Number.POSITIVE_INFINITY,
    );
    this.arm(next);
  }
}
