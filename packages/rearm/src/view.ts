import {
  bool,
  callUser,
  callUserAsync,
  checkOptions,
  count,
  describe,
  factor,
  fn,
  Lifecycle,
  type LongTimer,
  ms,
  publish,
  signal as checkSignal,
  text,
} from '@halfopen/internal';
import { type SubscribeOptions, type Subscription, Topic } from '@halfopen/registry';
import { channels } from './diagnostics.js';
import { RearmError, type RearmErrorCode } from './errors.js';

/** What a watch reports when it fires (once). */
export type WatchEvent =
  | { kind: 'changed' }
  | { kind: 'lost'; reason: 'disconnected' | 'expired' | 'not-watching' };

/** What one read returns: the value, its version, and the watch armed by the same operation. */
export interface ReadResult<T, V> {
  value: T;
  version: V;
  next: Promise<WatchEvent>;
}

/** A store whose watches fire once, read together with arming the next watch. */
export interface OneShotWatchSource<T, V> {
  /** Reads the current value AND arms a one-shot watch in the same server operation. */
  read(signal: AbortSignal): Promise<ReadResult<T, V>>;
  /** Orders versions: negative when a is older than b. */
  compare(a: V, b: V): number;
}

export interface RetryOptions {
  /** Retries of a failed read before a pause of `maxDelayMs` (then it starts over). Default: Infinity. */
  retries?: number;
  /** Growth of the backoff per failed read. Default: 2. */
  factor?: number;
  /** First backoff, at least 1. Default: 100. */
  minDelayMs?: number;
  /** Longest backoff (the cap), and the pause after `retries` ran out. Default: 10000. */
  maxDelayMs?: number;
  /** Multiply each backoff by 1 + `random()` (1..2). Default: true. */
  randomize?: boolean;
}

export interface RearmOptions<T> {
  /** Deadline per read: a read past it is aborted (its signal) and counts as failed. 0 = none. Default: 0. */
  readTimeoutMs?: number;
  /** Backoff of failed reads. Default: forever, 100 ms..10 s, x2, jittered. */
  retry?: RetryOptions;
  /** After a change event, wait this long so a storm of events becomes one read. Default: 0. */
  coalesceMs?: number;
  /** Re-read this often even without events (jittered +-10%): catches a watch lost anywhere. 0 = off. Default: 0. */
  resyncIntervalMs?: number;
  /**
   * Mark the view stale when no read has succeeded for this long after one was needed; before
   * the first successful read, `ready` rejects then (`HALFOPEN_ERR_REARM_NOT_READY`). 0 = off. Default: 0.
   */
  staleAfterMs?: number;
  /**
   * Decides whether to publish `next` (e.g. refuse an empty endpoint list): `false` keeps the old
   * value, marked stale. Must return a boolean synchronously; a throw or anything else counts as
   * a failed read. Default: accept all.
   */
  accept?: (next: T, prev: T | undefined) => boolean;
  /** Aborting it closes the view (`ready` rejects with its reason if still pending). Default: none. */
  signal?: AbortSignal;
  /** Name for diagnostics and error messages. Default: 'view'. */
  name?: string;
  /** Clock in ms. Default: `performance.now`. */
  now?: () => number;
  /** Source of jitter in [0, 1) for resync and backoff (inject for deterministic tests). Default: `Math.random`. */
  random?: () => number;
}

export type ViewState = 'initializing' | 'synced' | 'stale' | 'closed';

export interface ViewStats {
  reads: number;
  events: number;
  /** Events that arrived while a read was pending or in flight and were folded into it. */
  coalesced: number;
  /** Failed reads (source errors, timeouts, a throwing accept/compare). */
  errors: number;
  resyncs: number;
  /** Results older than what was published, dropped. */
  dropped: number;
  refused: number;
  lastSyncAt: number | undefined;
  staleForMs: number;
}

const KEYS = [
  'readTimeoutMs',
  'retry',
  'coalesceMs',
  'resyncIntervalMs',
  'staleAfterMs',
  'accept',
  'signal',
  'name',
  'now',
  'random',
];
const RETRY_KEYS = ['retries', 'factor', 'minDelayMs', 'maxDelayMs', 'randomize'];
// Every timer here goes through Lifecycle.timeout, which chains delays past 2^31-1 ms: any
// finite duration is honoured as asked (Node alone would fire it after 1 ms).
const MAX_MS = Number.MAX_SAFE_INTEGER;
const FAILED = Symbol('failed');
const NOT_WATCHING: WatchEvent = { kind: 'lost', reason: 'not-watching' };

interface Settings<T> {
  readTimeoutMs: number;
  retries: number;
  factor: number;
  minDelayMs: number;
  maxDelayMs: number;
  randomize: boolean;
  coalesceMs: number;
  resyncIntervalMs: number;
  staleAfterMs: number;
  accept: RearmOptions<T>['accept'];
  now: () => number;
  random: () => number;
}

function settings<T>(options: RearmOptions<T> | undefined): Settings<T> & {
  name: string;
  signal: AbortSignal | undefined;
} {
  const o = checkOptions(options, KEYS);
  const r = checkOptions(o.retry, RETRY_KEYS, 'options.retry');
  // At least 1 ms: a failing source is never re-read in a hot loop.
  const minDelayMs = ms(r.minDelayMs, 'options.retry.minDelayMs', {
    default: 100,
    min: 1,
    max: MAX_MS,
  });
  const off = (v: unknown, name: string) =>
    ms(v, `options.${name}`, { default: 0, zeroOff: true, min: 1, max: MAX_MS });
  return {
    readTimeoutMs: off(o.readTimeoutMs, 'readTimeoutMs'),
    retries:
      r.retries === undefined || r.retries === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : count(r.retries, 'options.retry.retries'),
    factor: factor(r.factor, 'options.retry.factor', { default: 2 }),
    minDelayMs,
    maxDelayMs: ms(r.maxDelayMs, 'options.retry.maxDelayMs', {
      default: Math.max(10_000, minDelayMs),
      min: minDelayMs,
      max: MAX_MS,
    }),
    randomize: bool(r.randomize, 'options.retry.randomize', true),
    coalesceMs: ms(o.coalesceMs, 'options.coalesceMs', { default: 0, max: MAX_MS }),
    resyncIntervalMs: off(o.resyncIntervalMs, 'resyncIntervalMs'),
    staleAfterMs: off(o.staleAfterMs, 'staleAfterMs'),
    accept: fn(o.accept, 'options.accept'),
    now: fn(o.now, 'options.now') ?? (() => performance.now()),
    random: fn(o.random, 'options.random') ?? Math.random,
    name: text(o.name, 'options.name', 'view'),
    signal: checkSignal(o.signal),
  };
}

function messageOf(error: unknown): string {
  try {
    return error instanceof Error ? error.message : describe(error);
  } catch {
    return describe(error);
  }
}

/**
 * A value kept in step with a one-shot-watch store. Every read arms the next watch, one read at
 * a time; events during a read fold into one follow-up read; a published version never goes
 * backwards; failed reads (including a throwing `accept` or `compare`) are reported on
 * `halfopen:rearm:error`, counted and retried with backoff.
 */
export class WatchedView<T, V> implements AsyncDisposable {
  readonly name: string;
  /**
   * Resolves at the first successful read. Rejects if the view is closed first (the coded
   * `HALFOPEN_ERR_REARM_CLOSED` error, or the signal's reason when aborted), or with
   * `HALFOPEN_ERR_REARM_NOT_READY` naming the last read error when `staleAfterMs` passes before
   * any read succeeded (the view keeps trying; `subscribe` gets the first value when it comes).
   */
  readonly ready: Promise<void>;
  readonly #read: (signal: AbortSignal) => unknown;
  readonly #compare: (a: V, b: V) => unknown;
  readonly #source: OneShotWatchSource<T, V>;
  readonly #s: Settings<T>;
  readonly #life = new Lifecycle();
  readonly #topic: Topic<{ value: T; version: V }>;
  #snapshot: { value: T; version: V; syncedAt: number } | undefined;
  #state: ViewState = 'initializing';
  #staleSince = -1;
  readonly #counters = {
    reads: 0,
    events: 0,
    coalesced: 0,
    errors: 0,
    resyncs: 0,
    dropped: 0,
    refused: 0,
  };
  #wanted = true; // a read is needed
  #idle = false; // the loop waits for a request (not a timer)
  #wake: (() => void) | undefined;
  #abortRead: ((reason: unknown) => void) | undefined;
  #resyncTimer: LongTimer | undefined;
  #staleTimer: LongTimer | undefined; // set from the start of a needed read until one succeeds
  #lastError: unknown;
  #lostStreak = 0; // watches lost in a row: the re-read backs off (a watch lost at once is no hot loop)
  #readySettled = false;
  #resolveReady!: () => void;
  #rejectReady!: (error: unknown) => void;

  /** Same as `rearm(source, options)`. Bad options throw a TypeError/RangeError naming them. */
  constructor(source: OneShotWatchSource<T, V>, options?: RearmOptions<T>) {
    if (
      source === null ||
      typeof source !== 'object' ||
      typeof source.read !== 'function' ||
      typeof source.compare !== 'function'
    ) {
      throw new TypeError('source must have read(signal) and compare(a, b) functions');
    }
    const s = settings(options);
    this.#source = source;
    this.#read = source.read;
    this.#compare = source.compare;
    this.#s = s;
    this.name = s.name;
    this.#topic = new Topic({ name: s.name, replay: true });
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {}); // a view nobody awaits is not an unhandled rejection
    const signal = s.signal;
    if (signal?.aborted) {
      this.#close(signal.reason);
      return;
    }
    if (signal) {
      const onAbort = () => this.#close(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#life.onClose(() => signal.removeEventListener('abort', onAbort));
    }
    this.#run();
  }

  get current(): { value: T; version: V; syncedAt: number } | undefined {
    return this.#snapshot && { ...this.#snapshot };
  }

  get state(): ViewState {
    return this.#state;
  }

  /** Current value first (when there is one), then each newer version (through @halfopen/registry). */
  subscribe(
    listener: (value: T, version: V) => unknown,
    options?: SubscribeOptions,
  ): Subscription<{ value: T; version: V }> {
    return this.#topic.subscribe((s) => listener(s.value, s.version), options);
  }

  stats(): ViewStats {
    const stale = this.#staleSince < 0 ? 0 : this.#now() - this.#staleSince;
    return {
      ...this.#counters,
      lastSyncAt: this.#snapshot?.syncedAt,
      staleForMs: Math.max(stale, 0),
    };
  }

  /**
   * Stops reading and watching: the read in flight is aborted (its signal, with the coded
   * `HALFOPEN_ERR_REARM_CLOSED` error), every timer is cleared, `ready` rejects if still pending,
   * subscribers are unsubscribed. Idempotent.
   */
  close(): void {
    this.#close(new RearmError('HALFOPEN_ERR_REARM_CLOSED', this.name, 'closed'));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  #close(reason: unknown): void {
    if (this.#life.closed) return;
    this.#state = 'closed';
    this.#life.close(reason);
    this.#abortRead?.(reason);
    this.#settleReady({ error: reason });
    this.#wake?.();
    this.#topic.close();
  }

  #settleReady(failure?: { error: unknown }): void {
    if (this.#readySettled) return;
    this.#readySettled = true;
    if (failure) this.#rejectReady(failure.error);
    else this.#resolveReady();
  }

  #now(): number {
    const t = callUser(this.#s.now, [], (e) => this.#report(e));
    return typeof t === 'number' && Number.isFinite(t) ? t : performance.now();
  }

  #random(): number {
    const r = callUser(this.#s.random, [], (e) => this.#report(e));
    return typeof r === 'number' && r >= 0 && r <= 1 ? r : 0.5;
  }

  #report(error: unknown): void {
    publish(channels.error, { view: this.name, error });
  }

  #request(): void {
    this.#wanted = true;
    if (this.#idle) this.#wake?.();
  }

  #onEvent(ev: unknown): void {
    if (this.#life.closed) return;
    this.#counters.events++;
    let lost: string | undefined;
    try {
      const e = ev as WatchEvent;
      if (e.kind !== 'changed') lost = e.kind === 'lost' ? String(e.reason) : 'not-watching';
    } catch {
      lost = 'not-watching';
    }
    if (lost !== undefined) {
      this.#lostStreak++;
      this.#markStale(`watch lost: ${lost}`);
    } else this.#lostStreak = 0;
    if (this.#wanted) this.#counters.coalesced++;
    this.#request();
  }

  #markStale(reason: string): void {
    if (this.#life.closed) return;
    if (this.#staleSince < 0) this.#staleSince = this.#now();
    if (this.#state !== 'stale') {
      this.#state = 'stale';
      publish(channels.stale, { view: this.name, reason });
    }
  }

  #notReady(why: string): void {
    if (this.#readySettled || this.#snapshot) return;
    const last = this.#lastError === undefined ? '' : `; last error: ${messageOf(this.#lastError)}`;
    const error = new RearmError('HALFOPEN_ERR_REARM_NOT_READY', this.name, `${why}${last}`, {
      cause: this.#lastError,
    });
    this.#settleReady({ error });
  }

  /** Waits `delayMs`, or (without it) until a read is requested; close() ends either wait. */
  #pause(delayMs?: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: LongTimer | undefined;
      const done = () => {
        timer?.cancel();
        this.#wake = undefined;
        this.#idle = false;
        resolve();
      };
      this.#wake = done;
      this.#idle = delayMs === undefined;
      if (delayMs !== undefined) timer = this.#life.timeout(done, delayMs);
    });
  }

  #run(): void {
    this.#loop().catch((error) => {
      // Not reached by any user code (it is all guarded); if it ever is, say so and go on.
      this.#report(error);
      this.#wanted = true;
      this.#life.timeout(() => this.#run(), this.#s.maxDelayMs);
    });
  }

  async #loop(): Promise<void> {
    const s = this.#s;
    let failures = 0; // consecutive failed reads: drive the backoff
    while (!this.#life.closed) {
      if (!this.#wanted) {
        await this.#pause();
        continue;
      }
      if (s.coalesceMs > 0 && this.#snapshot) {
        await this.#pause(s.coalesceMs);
        if (this.#life.closed) return;
      }
      if (this.#lostStreak > 0) {
        await this.#pause(this.#backoff(this.#lostStreak));
        if (this.#life.closed) return;
      }
      this.#wanted = false;
      this.#armStaleTimer();
      const ok = await this.#readOnce();
      if (this.#life.closed) return;
      if (ok) {
        failures = 0;
        this.#staleTimer?.cancel();
        this.#staleTimer = undefined;
        this.#armResync();
        continue;
      }
      this.#wanted = true; // a failed read armed nothing: read again after the backoff
      let delay: number;
      if (++failures > s.retries) {
        // Retries ran out and no watch is armed: try again after the backoff cap, stale meanwhile.
        failures = 0;
        delay = s.maxDelayMs;
        this.#markStale(`${s.retries + 1} reads failed`);
      } else delay = this.#backoff(failures);
      await this.#pause(delay);
    }
  }

  /** The n-th backoff (n >= 1): minDelayMs x factor^(n-1) x (1..2 when randomized), capped. */
  #backoff(n: number): number {
    const s = this.#s;
    const jitter = s.randomize ? 1 + this.#random() : 1;
    return Math.min(s.maxDelayMs, s.minDelayMs * s.factor ** (n - 1) * jitter);
  }

  #armStaleTimer(): void {
    const after = this.#s.staleAfterMs;
    if (!after || this.#staleTimer) return;
    this.#staleTimer = this.#life.timeout(() => {
      this.#markStale(`no successful read for ${after} ms`);
      this.#notReady(`no successful read within ${after} ms`);
    }, after);
  }

  #armResync(): void {
    this.#resyncTimer?.cancel();
    const every = this.#s.resyncIntervalMs;
    if (!every) return;
    this.#resyncTimer = this.#life.timeout(
      () => {
        this.#counters.resyncs++;
        this.#request();
      },
      every * (0.9 + 0.2 * this.#random()),
    );
  }

  /** One read and its application; false when it failed (reported and counted). */
  async #readOnce(): Promise<boolean> {
    this.#counters.reads++;
    let r: ReadResult<T, V>;
    try {
      r = await this.#attempt();
    } catch (error) {
      if (this.#life.closed) return false;
      this.#failed(
        error instanceof RearmError
          ? error
          : new RearmError(
              'HALFOPEN_ERR_REARM_READ_FAILED',
              this.name,
              `read failed: ${messageOf(error)}`,
              {
                cause: error,
              },
            ),
      );
      return false;
    }
    if (this.#life.closed) return false; // closed between the answer and now
    return this.#apply(r);
  }

  /**
   * Calls `source.read` with a signal of its own: aborted by `readTimeoutMs` or close(), and no
   * listener is added to anything that outlives the read. Resolves with a checked result whose
   * watch is already being followed.
   */
  #attempt(): Promise<ReadResult<T, V>> {
    const ac = new AbortController();
    return new Promise<ReadResult<T, V>>((resolve, reject) => {
      let timer: LongTimer | undefined;
      let settled = false;
      const end = (): boolean => {
        if (settled) return false;
        settled = true;
        timer?.cancel();
        this.#abortRead = undefined;
        return true;
      };
      const fail = (error: unknown) => {
        if (end()) reject(error);
      };
      this.#abortRead = (reason) => {
        ac.abort(reason);
        fail(reason);
      };
      if (this.#s.readTimeoutMs > 0) {
        timer = this.#life.timeout(() => {
          const e = new RearmError(
            'HALFOPEN_ERR_REARM_READ_TIMEOUT',
            this.name,
            `read not answered within ${this.#s.readTimeoutMs} ms`,
          );
          ac.abort(e);
          fail(e);
        }, this.#s.readTimeoutMs);
      }
      callUserAsync(this.#read, [ac.signal], this.#source).then((raw) => {
        let checked: ReadResult<T, V>;
        try {
          checked = this.#follow(raw);
        } catch (error) {
          fail(error);
          return;
        }
        if (end()) resolve(checked);
      }, fail);
    });
  }

  /** Checks a read's result and follows its watch (even when the result is later dropped or late). */
  #follow(raw: unknown): ReadResult<T, V> {
    const bad = (what: string) =>
      new RearmError(
        'HALFOPEN_ERR_REARM_READ_FAILED',
        this.name,
        `source.read() must resolve to { value, version, next }, ${what}`,
      );
    if (raw === null || typeof raw !== 'object') throw bad(`got ${describe(raw)}`);
    const { value, version, next } = raw as ReadResult<T, V>;
    if (
      next === null ||
      (typeof next !== 'object' && typeof next !== 'function') ||
      typeof next.then !== 'function'
    ) {
      throw bad(`got next = ${describe(next)} (no watch armed)`);
    }
    // A thenable whose then() throws becomes a rejection: the watch is lost, re-read.
    callUserAsync(() => next, []).then(
      (ev) => this.#onEvent(ev),
      () => this.#onEvent(NOT_WATCHING),
    );
    return { value, version, next };
  }

  /** Runs accept/compare; FAILED (reported, counted) when it threw or returned the wrong type. */
  #decide<A extends unknown[], R>(
    what: 'accept' | 'compare',
    f: (...args: A) => unknown,
    args: A,
    type: 'boolean' | 'number',
    thisArg?: unknown,
  ): R | typeof FAILED {
    let inCall = true;
    let threw = false;
    let thrown: unknown;
    const result = callUser(
      f,
      args,
      (error) => {
        if (!inCall) return this.#report(error); // a returned thenable rejected later
        threw = true;
        thrown = error;
      },
      thisArg,
    );
    inCall = false;
    let problem: RearmErrorCode | undefined;
    let message = '';
    if (threw) {
      problem = 'HALFOPEN_ERR_REARM_CALLBACK_FAILED';
      message = `${what}() threw: ${messageOf(thrown)}`;
    } else if (typeof result !== type || Number.isNaN(result)) {
      problem = 'HALFOPEN_ERR_REARM_CALLBACK_FAILED';
      message = `${what}() must return a ${type}, got ${describe(result)}`;
    }
    if (problem === undefined) return result as R;
    this.#failed(
      new RearmError(problem, this.name, message, threw ? { cause: thrown } : undefined),
    );
    return FAILED;
  }

  #failed(error: unknown): void {
    this.#counters.errors++;
    this.#lastError = error;
    this.#report(error);
    if (this.#snapshot) this.#markStale(`read failed: ${messageOf(error)}`);
  }

  /** Publishes a read's result unless it is older (dropped) or refused; false when a callback failed. */
  #apply(r: ReadResult<T, V>): boolean {
    const prev = this.#snapshot;
    let order = 1;
    if (prev) {
      const c = this.#decide<[V, V], number>(
        'compare',
        this.#compare,
        [r.version, prev.version],
        'number',
        this.#source,
      );
      if (c === FAILED) return false;
      if (c < 0) {
        this.#counters.dropped++; // an older read: a published version never goes backwards
        return true;
      }
      order = c;
    }
    const accept = this.#s.accept;
    if (accept) {
      const ok = this.#decide<[T, T | undefined], boolean>(
        'accept',
        accept,
        [r.value, prev?.value],
        'boolean',
      );
      if (ok === FAILED) return false;
      if (!ok) {
        this.#counters.refused++;
        this.#markStale('accept() refused the new value');
        return true;
      }
    }
    this.#snapshot = { value: r.value, version: r.version, syncedAt: this.#now() };
    this.#state = 'synced';
    this.#staleSince = -1;
    if (order > 0) this.#topic.publish({ value: r.value, version: r.version });
    this.#settleReady();
    return true;
  }
}

/**
 * Keeps a value in step with a one-shot-watch store: every read arms the next watch, one read
 * at a time, events during a read fold into one follow-up read, versions never go backwards,
 * failures retry with backoff, and staleness is visible.
 */
export function rearm<T, V>(
  source: OneShotWatchSource<T, V>,
  options?: RearmOptions<T>,
): WatchedView<T, V> {
  return new WatchedView(source, options);
}

/** What changed between two endpoint lists. */
export function diffMembers<T>(prev: Iterable<T>, next: Iterable<T>): { added: T[]; removed: T[] } {
  const a = new Set(prev);
  const b = new Set(next);
  return { added: [...b].filter((x) => !a.has(x)), removed: [...a].filter((x) => !b.has(x)) };
}
