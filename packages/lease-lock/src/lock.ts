import { channels } from './diagnostics.js';
import { AcquireTimeoutError, type HolderInfo, LeaseExpiredError } from './errors.js';

export interface LeaseLockOptions {
  /** Names the lock in errors, warnings and diagnostics. Required. */
  name: string;
  /** A holder past this is reported once: `halfopen:lease-lock:stall` and one process warning. Default: off. */
  warnAfterMs?: number;
  /** A holder past this loses the lock: its `signal` aborts with LeaseExpiredError and the next waiter gets it. Default: off. */
  leaseMs?: number;
  /** Capture the stack at each acquire, shown in `query()`, warnings and errors. Default: false (it costs a stack trace per acquire). */
  captureStack?: boolean;
  /** Clock in ms. Default `performance.now`. */
  now?: () => number;
}

export interface AcquireOptions {
  /** Reject with AcquireTimeoutError after waiting this long. Default: wait forever. */
  timeoutMs?: number;
  /** Abort the wait; rejects with `signal.reason`. */
  signal?: AbortSignal;
  /** Who is acquiring: shown to whoever waits behind it. */
  label?: string;
}

/** A holding of the lock. Release it exactly once (further calls are no-ops). */
export class Held implements Disposable, AsyncDisposable {
  private controller: AbortController | undefined;
  /** @internal */
  done = false;

  /** @internal */
  constructor(
    private readonly lock: LeaseLock,
    /** Fencing token: strictly increasing per lock. Protected resources refuse lower tokens than the highest seen. */
    readonly token: number,
    readonly label: string | undefined,
    readonly since: number,
    readonly stack: string | undefined,
  ) {}

  /** Aborts (with LeaseExpiredError) when the lease expires. */
  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  /** True while this is the lock's current holding (not released, lease not expired). */
  get valid(): boolean {
    return !this.done;
  }

  /** Releases the lock; a no-op when already released or when the lease expired. */
  release(): void {
    this.lock.release(this);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }

  /** @internal */
  expire(reason: LeaseExpiredError): void {
    this.done = true;
    this.controller ??= new AbortController();
    this.controller.abort(reason);
  }
}

interface Waiter {
  label: string | undefined;
  stack: string | undefined;
  since: number;
  resolve: (held: Held) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  prev: Waiter | null;
  next: Waiter | null;
}

/** Locks held or waited on now, for `watchLocks` (idle locks are not kept). */
export const activeLocks = new Set<LeaseLock>();

function checkMs(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(
      `${name} must be a number of milliseconds, got ${typeof value === 'string' ? `"${value}"` : String(value)}`,
    );
  }
  if (value <= 0 || !Number.isFinite(value))
    throw new RangeError(`${name} must be a finite number > 0, got ${value}`);
  return value;
}

/** An async mutual-exclusion lock with FIFO handoff that cannot freeze a service silently. */
export class LeaseLock {
  readonly name: string;
  readonly warnAfterMs: number | undefined;
  readonly leaseMs: number | undefined;
  private readonly captureStack: boolean;
  /** @internal */
  readonly now: () => number;
  private holder: Held | undefined;
  private first: Waiter | null = null;
  private last: Waiter | null = null;
  private waiting = 0;
  private tokens = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;

  constructor(options: LeaseLockOptions) {
    if (options === null || typeof options !== 'object')
      throw new TypeError('options must be an object with a name');
    if (typeof options.name !== 'string' || options.name === '') {
      throw new TypeError(`options.name must be a non-empty string, got ${typeof options.name}`);
    }
    this.name = options.name;
    this.warnAfterMs = checkMs(options.warnAfterMs, 'options.warnAfterMs');
    this.leaseMs = checkMs(options.leaseMs, 'options.leaseMs');
    if (options.now !== undefined && typeof options.now !== 'function')
      throw new TypeError('options.now must be a function');
    this.captureStack = options.captureStack === true;
    this.now = options.now ?? (() => performance.now());
  }

  /** Resolves with a holding once every earlier waiter has had the lock. */
  acquire(options: AcquireOptions = {}): Promise<Held> {
    if (options === null || typeof options !== 'object')
      return Promise.reject(new TypeError('options must be an object'));
    let timeoutMs: number | undefined;
    try {
      timeoutMs = checkMs(options.timeoutMs, 'options.timeoutMs');
      if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
        throw new TypeError('options.signal must be an AbortSignal');
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const { signal, label } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const stack = this.captureStack ? new Error('acquired here').stack : undefined;
    if (this.holder === undefined && this.first === null)
      return Promise.resolve(this.grant(label, stack));
    return new Promise<Held>((resolve, reject) => {
      const w: Waiter = {
        label,
        stack,
        since: this.now(),
        resolve,
        reject,
        timer: undefined,
        signal,
        onAbort: undefined,
        prev: this.last,
        next: null,
      };
      if (this.last) this.last.next = w;
      else this.first = w;
      this.last = w;
      this.waiting++;
      activeLocks.add(this);
      if (timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          const err = new AcquireTimeoutError(
            this.name,
            timeoutMs,
            this.holderInfo(),
            this.waiting - 1,
          );
          if (channels.timeout.hasSubscribers)
            channels.timeout.publish({ lock: this.name, error: err });
          this.leave(w, err);
        }, timeoutMs);
        w.timer.unref();
      }
      if (signal) {
        w.onAbort = () => this.leave(w, signal.reason);
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
    });
  }

  /** Runs `fn` holding the lock and releases it however `fn` ends. */
  async withLock<R>(fn: (held: Held) => R | Promise<R>, options?: AcquireOptions): Promise<R> {
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
    const now = this.now();
    const waiters: Array<{ label: string | undefined; waitingMs: number; stack?: string }> = [];
    for (let w = this.first; w !== null; w = w.next) {
      waiters.push(
        w.stack
          ? { label: w.label, waitingMs: now - w.since, stack: w.stack }
          : { label: w.label, waitingMs: now - w.since },
      );
    }
    return { holder: this.holderInfo(), waiters };
  }

  /** True while nobody holds the lock. */
  get free(): boolean {
    return this.holder === undefined;
  }

  /** @internal */
  holderInfo(): HolderInfo | undefined {
    const h = this.holder;
    if (!h) return undefined;
    const info: HolderInfo = {
      label: h.label,
      token: h.token,
      since: h.since,
      heldMs: this.now() - h.since,
    };
    if (h.stack) info.stack = h.stack;
    return info;
  }

  private grant(label: string | undefined, stack: string | undefined): Held {
    const held = new Held(this, ++this.tokens, label, this.now(), stack);
    this.holder = held;
    if (this.warnAfterMs !== undefined) {
      this.stallTimer = setTimeout(() => this.stalled(held), this.warnAfterMs);
      this.stallTimer.unref();
    }
    if (this.leaseMs !== undefined) {
      this.leaseTimer = setTimeout(() => this.expire(held), this.leaseMs);
      this.leaseTimer.unref();
    }
    activeLocks.add(this);
    return held;
  }

  /** @internal */
  release(held: Held): void {
    if (held.done || this.holder !== held) return;
    held.done = true;
    this.handOff();
  }

  private handOff(): void {
    clearTimeout(this.stallTimer);
    clearTimeout(this.leaseTimer);
    this.stallTimer = this.leaseTimer = undefined;
    this.holder = undefined;
    const w = this.first;
    if (w === null) {
      activeLocks.delete(this);
      return;
    }
    this.unlink(w);
    w.resolve(this.grant(w.label, w.stack));
  }

  private leave(w: Waiter, reason: unknown): void {
    this.unlink(w);
    if (this.holder === undefined && this.first === null) activeLocks.delete(this);
    w.reject(reason);
  }

  private unlink(w: Waiter): void {
    if (w.prev) w.prev.next = w.next;
    else this.first = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.last = w.prev;
    w.prev = w.next = null;
    this.waiting--;
    clearTimeout(w.timer);
    if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
  }

  private stalled(held: Held): void {
    if (this.holder !== held) return;
    const holder = this.holderInfo()!;
    const message = `lock ${this.name} held by ${holder.label ?? 'an unlabelled holder'} (token ${holder.token}) for ${Math.round(holder.heldMs)} ms, over warnAfterMs ${this.warnAfterMs}; ${this.waiting} waiting${holder.stack ? `\n${holder.stack}` : ''}`;
    if (channels.stall.hasSubscribers)
      channels.stall.publish({ lock: this.name, holder, waiters: this.waiting });
    process.emitWarning(message, { type: 'HalfopenLockStall', code: 'HALFOPEN_LOCK_STALL' });
  }

  private expire(held: Held): void {
    if (this.holder !== held) return;
    const err = new LeaseExpiredError(this.name, this.leaseMs!, this.holderInfo()!);
    held.expire(err);
    if (channels.expire.hasSubscribers) {
      channels.expire.publish({ lock: this.name, holder: err.holder, next: this.first?.label });
    }
    this.handOff();
  }
}
