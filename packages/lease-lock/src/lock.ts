import {
  bool,
  checkOptions,
  describe,
  fn,
  type LongTimer,
  longTimeout,
  ms,
  publish,
  signal as checkSignal,
} from '@halfopen/internal';
import { channels } from './diagnostics.js';
import { AcquireTimeoutError, type HolderInfo, LeaseExpiredError, LockError } from './errors.js';

export interface LeaseLockOptions {
  /** Names the lock in errors, warnings and diagnostics. Required. */
  name: string;
  /**
   * A holder past this is reported once: a StallReport on `halfopen:lease-lock:stall` and one
   * process warning (type `HalfopenLockStall`). Any finite value >= 1. Default: off.
   */
  warnAfterMs?: number;
  /**
   * A holder past this loses the lock: its `signal` aborts with LeaseExpiredError and the next
   * waiter gets it. Any finite value >= 1 (long leases are timed in steps). Default: off.
   */
  leaseMs?: number;
  /** Capture the stack at each acquire, shown in `query()`, warnings and errors. Default: false (it costs a stack trace per acquire). */
  captureStack?: boolean;
  /** Clock in ms. Default `performance.now`. */
  now?: () => number;
}
const KEYS = ['name', 'warnAfterMs', 'leaseMs', 'captureStack', 'now'] as const;

export interface AcquireOptions {
  /**
   * Reject with AcquireTimeoutError after waiting this long (any finite value >= 1). While it
   * runs, this deadline keeps the process alive: the waiter is always told. Default: wait forever.
   */
  timeoutMs?: number;
  /** Abort the wait; rejects with `signal.reason`. Default: none. */
  signal?: AbortSignal;
  /** Who is acquiring: shown to whoever waits behind it. Default: none. */
  label?: string;
}
const ACQUIRE_KEYS = ['timeoutMs', 'signal', 'label'] as const;

/** A stalled holding: what `halfopen:lease-lock:stall` receives and the warning says. */
export interface StallReport {
  lock: string;
  holder: HolderInfo;
  waiters: Array<{ label: string | undefined; waitingMs: number; stack?: string }>;
}

// Times are timed by chained timers (longTimeout), so any finite value works as asked.
const TIME = { min: 1, max: Number.MAX_SAFE_INTEGER };
const time = (v: unknown, name: string): number | undefined =>
  v === undefined ? undefined : ms(v, name, TIME);

function label(v: unknown): string | undefined {
  if (v !== undefined && typeof v !== 'string') {
    throw new TypeError(`options.label must be a string, got ${describe(v)}`);
  }
  return v;
}

function stallMessage(r: StallReport, warnAfterMs: number): string {
  const h = r.holder;
  const waiting = r.waiters.map((w) => w.label ?? '?').join(', ');
  return `lock ${r.lock} held by ${h.label ?? 'an unlabelled holder'} (token ${h.token}) for ${Math.round(h.heldMs)} ms, over warnAfterMs ${warnAfterMs}; ${r.waiters.length} waiting${waiting ? `: ${waiting}` : ''}${h.stack ? `\n${h.stack}` : ''}`;
}

// Module-private doors between Held and LeaseLock (assigned in their static blocks), so that
// neither exposes its bookkeeping.
let settleHeld: (held: Held, reason: LockError | undefined) => void;
let releaseHeld: (lock: LeaseLock, held: Held) => void;

/** A holding of the lock. Release it exactly once (further calls are no-ops). */
export class Held implements Disposable, AsyncDisposable {
  readonly #lock: LeaseLock;
  #done = false;
  #controller: AbortController | undefined;
  /** Fencing token: strictly increasing per lock. Protected resources refuse lower tokens than the highest seen. */
  readonly token: number;
  readonly label: string | undefined;
  /** When it acquired, on the lock's clock. */
  readonly since: number;
  readonly stack: string | undefined;

  /** @internal Made by LeaseLock only (the class is exported as a type). */
  constructor(
    lock: LeaseLock,
    token: number,
    label: string | undefined,
    since: number,
    stack: string | undefined,
  ) {
    this.#lock = lock;
    this.token = token;
    this.label = label;
    this.since = since;
    this.stack = stack;
  }

  /** Aborts (with LeaseExpiredError, or the HALFOPEN_ERR_LOCK_CLOSED error) when the holding is taken away. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    return this.#controller.signal;
  }

  /** True while this is the lock's current holding (not released, lease not expired, lock not closed). */
  get valid(): boolean {
    return !this.#done;
  }

  /** Releases the lock; a no-op when already released, when the lease expired or the lock closed. */
  release(): void {
    releaseHeld(this.#lock, this);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }

  static {
    settleHeld = (held, reason) => {
      held.#done = true;
      if (reason === undefined) return;
      held.#controller ??= new AbortController();
      held.#controller.abort(reason);
    };
  }
}

interface Waiter {
  label: string | undefined;
  stack: string | undefined;
  since: number;
  resolve: (held: Held) => void;
  reject: (err: unknown) => void;
  timer: LongTimer | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  prev: Waiter | null;
  next: Waiter | null;
}

/**
 * An async mutual-exclusion lock with FIFO handoff that cannot freeze a service silently.
 *
 * Timers: the stall timer is unref'd (a report is not work); an acquire deadline is ref'd (the
 * waiter must be told); the lease timer is ref'd only while someone waits (the next holder's
 * grant is pending work). The waiter list holds every pending promise and timer, so `close()`
 * walks it rather than keeping a second registry (Lifecycle) of the same things.
 */
export class LeaseLock implements Disposable {
  readonly name: string;
  readonly warnAfterMs: number | undefined;
  readonly leaseMs: number | undefined;
  readonly #captureStack: boolean;
  readonly #now: () => number;
  #holder: Held | undefined;
  #first: Waiter | null = null;
  #last: Waiter | null = null;
  #waiting = 0;
  #tokens = 0;
  #stallTimer: LongTimer | undefined;
  #leaseTimer: LongTimer | undefined;
  #closed = false;

  constructor(options: LeaseLockOptions) {
    if (options === undefined) throw new TypeError('options must be an object with a name');
    const o = checkOptions(options, KEYS);
    if (typeof o.name !== 'string' || o.name === '') {
      throw new TypeError(`options.name must be a non-empty string, got ${describe(o.name)}`);
    }
    this.name = o.name;
    this.warnAfterMs = time(o.warnAfterMs, 'options.warnAfterMs');
    this.leaseMs = time(o.leaseMs, 'options.leaseMs');
    this.#captureStack = bool(o.captureStack, 'options.captureStack', false);
    this.#now = fn(o.now, 'options.now') ?? (() => performance.now());
  }

  /**
   * Resolves with a holding once every earlier waiter has had the lock. Rejects with
   * AcquireTimeoutError after `timeoutMs`, with `signal.reason` when aborted, with the
   * HALFOPEN_ERR_LOCK_CLOSED error when the lock is (or gets) closed, and with a
   * TypeError/RangeError naming a bad option (nothing queued then).
   */
  acquire(options?: AcquireOptions): Promise<Held> {
    let timeoutMs: number | undefined;
    let signal: AbortSignal | undefined;
    let who: string | undefined;
    try {
      const o = checkOptions(options, ACQUIRE_KEYS);
      timeoutMs = time(o.timeoutMs, 'options.timeoutMs');
      signal = checkSignal(o.signal);
      who = label(o.label);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#closed) return Promise.reject(this.#closedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    const stack = this.#captureStack ? new Error('acquired here').stack : undefined;
    if (this.#holder === undefined && this.#first === null)
      return Promise.resolve(this.#grant(who, stack));
    return new Promise<Held>((resolve, reject) => {
      const w: Waiter = {
        label: who,
        stack,
        since: this.#now(),
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: undefined,
        prev: this.#last,
        next: null,
      };
      if (this.#last) this.#last.next = w;
      else this.#first = w;
      this.#last = w;
      if (this.#waiting++ === 0) this.#leaseTimer?.ref(true);
      if (timeoutMs !== undefined) {
        const limit = timeoutMs;
        w.timer = longTimeout(
          () => {
            w.timer = undefined;
            const err = new AcquireTimeoutError(
              this.name,
              limit,
              this.#holderInfo(),
              this.#waiting - 1,
            );
            publish(channels.timeout, { lock: this.name, error: err });
            this.#leave(w, err);
          },
          limit,
          true,
        );
      }
      if (signal) {
        const s = signal;
        w.onAbort = () => this.#leave(w, s.reason);
        s.addEventListener('abort', w.onAbort, { once: true });
      }
    });
  }

  /** Runs `fn` holding the lock and releases it however `fn` ends. */
  async withLock<R>(fn: (held: Held) => R | PromiseLike<R>, options?: AcquireOptions): Promise<R> {
    if (typeof fn !== 'function') throw new TypeError(`fn must be a function, got ${describe(fn)}`);
    const held = await this.acquire(options);
    try {
      return await fn(held);
    } finally {
      held.release();
    }
  }

  /** Who holds the lock and who waits, with how long. */
  query(): {
    holder: HolderInfo | undefined;
    waiters: Array<{ label: string | undefined; waitingMs: number; stack?: string }>;
  } {
    const now = this.#now();
    const waiters: Array<{ label: string | undefined; waitingMs: number; stack?: string }> = [];
    for (let w = this.#first; w !== null; w = w.next) {
      waiters.push(
        w.stack
          ? { label: w.label, waitingMs: now - w.since, stack: w.stack }
          : { label: w.label, waitingMs: now - w.since },
      );
    }
    return { holder: this.#holderInfo(), waiters };
  }

  /** True while nobody holds the lock. */
  get free(): boolean {
    return this.#holder === undefined;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Closes the lock: every waiter rejects with the HALFOPEN_ERR_LOCK_CLOSED error, the holder
   * (if any) loses its holding (its `signal` aborts with that error, `valid` turns false, its
   * release is a no-op), every timer stops, and later acquires reject with that error.
   * Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = this.#closedError();
    const held = this.#holder;
    this.#clearHolding();
    if (held) settleHeld(held, err);
    for (let w = this.#first; w !== null; w = this.#first) {
      this.#unlink(w);
      w.reject(err);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  static {
    releaseHeld = (lock, held) => lock.#release(held);
  }

  #closedError(): LockError {
    return new LockError('HALFOPEN_ERR_LOCK_CLOSED', this.name, `lock ${this.name} is closed`);
  }

  #holderInfo(): HolderInfo | undefined {
    const h = this.#holder;
    if (!h) return undefined;
    const info: HolderInfo = {
      label: h.label,
      token: h.token,
      since: h.since,
      heldMs: this.#now() - h.since,
    };
    if (h.stack) info.stack = h.stack;
    return info;
  }

  #grant(who: string | undefined, stack: string | undefined): Held {
    const held = new Held(this, ++this.#tokens, who, this.#now(), stack);
    this.#holder = held;
    if (this.warnAfterMs !== undefined) {
      this.#stallTimer = longTimeout(() => this.#stalled(held), this.warnAfterMs);
    }
    if (this.leaseMs !== undefined) {
      this.#leaseTimer = longTimeout(() => this.#expire(held), this.leaseMs, this.#waiting > 0);
    }
    return held;
  }

  #release(held: Held): void {
    // A holding already taken away (its lease expired, its abort listeners still running) is no
    // longer the holder's to release: #expire hands off once it is back.
    if (this.#holder !== held || !held.valid) return;
    settleHeld(held, undefined);
    this.#handOff();
  }

  #clearHolding(): void {
    this.#stallTimer?.cancel();
    this.#leaseTimer?.cancel();
    this.#stallTimer = this.#leaseTimer = undefined;
    this.#holder = undefined;
  }

  #handOff(): void {
    this.#clearHolding();
    const w = this.#first;
    if (w === null) return;
    this.#unlink(w);
    w.resolve(this.#grant(w.label, w.stack));
  }

  #leave(w: Waiter, reason: unknown): void {
    this.#unlink(w);
    w.reject(reason);
  }

  #unlink(w: Waiter): void {
    if (w.prev) w.prev.next = w.next;
    else this.#first = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.#last = w.prev;
    w.prev = w.next = null;
    if (--this.#waiting === 0) this.#leaseTimer?.ref(false);
    w.timer?.cancel();
    w.timer = undefined;
    if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
  }

  /** The one stall detector: one timer per holding, one report, one message. */
  #stalled(held: Held): void {
    if (this.#holder !== held) return;
    const q = this.query();
    const report: StallReport = { lock: this.name, holder: q.holder!, waiters: q.waiters };
    publish(channels.stall, report);
    process.emitWarning(stallMessage(report, this.warnAfterMs!), {
      type: 'HalfopenLockStall',
      code: 'HALFOPEN_LOCK_STALL',
    });
  }

  #expire(held: Held): void {
    if (this.#holder !== held) return;
    const err = new LeaseExpiredError(this.name, this.leaseMs!, this.#holderInfo()!);
    settleHeld(held, err);
    publish(channels.expire, { lock: this.name, holder: err.holder, next: this.#first?.label });
    // The holder's abort listeners and the subscribers ran synchronously; one may have closed the lock.
    if (this.#holder === held) this.#handOff();
  }
}
