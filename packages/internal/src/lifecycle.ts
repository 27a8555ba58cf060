import { MAX_TIMER_MS } from './options.js';

/** A timer that can run past 2^31-1 ms (chained), unref'd unless asked; `cancel()` clears it. */
export interface LongTimer {
  cancel(): void;
  /** Whether it is still waiting. */
  readonly pending: boolean;
  /** Whether it keeps the process alive (true) or not (false), from now on, chained steps too. */
  ref(on: boolean): void;
}

/**
 * Runs `fn` after `delayMs`, however long (Node's own timers fire after 1 ms past 2^31-1):
 * longer delays are chained. Unref'd unless `ref` is true. `delayMs` must be finite and >= 0.
 * Costs one object and one Node timer (no closures): lease-lock arms one per grant.
 */
export function longTimeout(fn: () => void, delayMs: number, ref = false): LongTimer {
  return new Chained(fn, delayMs, ref, undefined);
}

function fire(t: Chained): void {
  t.step();
}

class Chained implements LongTimer {
  pending = true;
  #handle: NodeJS.Timeout | undefined;
  #left: number;
  #ref: boolean;
  readonly #fn: () => void;
  /** The Lifecycle's set this timer is tracked in, left as soon as it fires or is cancelled. */
  readonly #owner: Set<LongTimer> | undefined;
  constructor(fn: () => void, delayMs: number, ref: boolean, owner: Set<LongTimer> | undefined) {
    this.#fn = fn;
    this.#left = delayMs;
    this.#ref = ref;
    this.#owner = owner;
    owner?.add(this);
    this.#arm();
  }

  cancel(): void {
    if (this.#handle) clearTimeout(this.#handle);
    this.#handle = undefined;
    this.pending = false;
    this.#owner?.delete(this);
  }

  ref(on: boolean): void {
    this.#ref = on;
    if (this.#handle) on ? this.#handle.ref() : this.#handle.unref();
  }

  /** @internal the Node timer fired */
  step(): void {
    if (this.#left > 0) {
      this.#arm();
      return;
    }
    this.#handle = undefined;
    this.pending = false;
    this.#owner?.delete(this);
    this.#fn();
  }

  #arm(): void {
    const step = Math.min(this.#left, MAX_TIMER_MS);
    this.#left -= step;
    this.#handle = setTimeout(fire, step, this);
    if (!this.#ref) this.#handle.unref();
  }
}

interface Pending {
  reject: (error: unknown) => void;
}

/**
 * One way to close: while open, a package tracks its pending promises and timers here;
 * `close(error)` rejects every pending promise with `error` (a coded `*_CLOSED` error), clears
 * every timer and runs the cleanups. Idempotent: later closes do nothing and return false.
 */
export class Lifecycle {
  #closed = false;
  readonly #pending = new Set<Pending>();
  readonly #timers = new Set<LongTimer>();
  readonly #cleanups: Array<() => void> = [];

  get closed(): boolean {
    return this.#closed;
  }

  /** Pending promises not yet settled (for stats and leak assertions). */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * Wraps a promise so that `close()` rejects it if it is still pending then. The returned
   * promise settles once, with whichever comes first. After close it rejects at once with
   * `closedError()`.
   */
  track<T>(promise: Promise<T>, closedError: () => unknown): Promise<T> {
    if (this.#closed) {
      promise.catch(() => {});
      return Promise.reject(closedError());
    }
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { reject };
      this.#pending.add(entry);
      promise.then(
        (v) => {
          this.#pending.delete(entry);
          resolve(v);
        },
        (e) => {
          this.#pending.delete(entry);
          reject(e);
        },
      );
    });
  }

  /** Registers a reject function to call at close (for promises built by hand). Returns an unregister. */
  hold(reject: (error: unknown) => void): () => void {
    const entry: Pending = { reject };
    this.#pending.add(entry);
    return () => this.#pending.delete(entry);
  }

  /** Timers armed and not yet fired or cancelled (for stats and leak assertions). */
  get timerCount(): number {
    return this.#timers.size;
  }

  /** A tracked, unref'd timer (long delays chained); cleared at close, forgotten when it fires or is cancelled. */
  timeout(fn: () => void, delayMs: number): LongTimer {
    if (this.#closed) return { cancel() {}, pending: false, ref() {} };
    return new Chained(fn, delayMs, false, this.#timers);
  }

  /** Runs `fn` at close (in registration order), after pending promises are rejected. */
  onClose(fn: () => void): void {
    if (this.#closed) fn();
    else this.#cleanups.push(fn);
  }

  /** Rejects every pending promise with `error`, clears every timer, runs cleanups. */
  close(error: unknown): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    for (const t of [...this.#timers]) t.cancel();
    this.#timers.clear();
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
    for (const fn of this.#cleanups.splice(0)) {
      try {
        fn();
      } catch {
        // a cleanup's failure must not stop the others
      }
    }
    return true;
  }
}
