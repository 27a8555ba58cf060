import diagnostics from 'node:diagnostics_channel';
import { type SubscribeOptions, type Subscription, Topic } from '@halfopen/registry';
import pRetry from 'p-retry';

/** What a watch reports when it fires (once). */
export type WatchEvent =
  | { kind: 'changed' }
  | { kind: 'lost'; reason: 'disconnected' | 'expired' | 'not-watching' };

/** A store whose watches fire once, read together with arming the next watch. */
export interface OneShotWatchSource<T, V> {
  /** Reads the current value AND arms a one-shot watch in the same server operation. */
  read(signal: AbortSignal): Promise<{ value: T; version: V; next: Promise<WatchEvent> }>;
  /** Orders versions: negative when a is older than b. */
  compare(a: V, b: V): number;
}

export interface RetryOptions {
  /** Default: forever. */
  retries?: number;
  factor?: number;
  /** Default 100. */
  minTimeout?: number;
  /** Default 10000 (the cap). */
  maxTimeout?: number;
  /** Default true. */
  randomize?: boolean;
}

export interface RearmOptions<T> {
  /** Deadline per read; a read past it is aborted and retried. Default: none. */
  readTimeoutMs?: number;
  /** Retries of a failed read (p-retry options). Default: forever, 100 ms..10 s jittered. */
  retry?: RetryOptions;
  /** After a change event, wait this long so a storm of events becomes one read. Default: 0. */
  coalesceMs?: number;
  /** Re-read this often even without events (jittered +-10%): catches a watch lost anywhere. Default: off. */
  resyncIntervalMs?: number;
  /** Mark the view stale when no read has succeeded for this long after one was needed. Default: off. */
  staleAfterMs?: number;
  /** Decides whether to publish `next` (e.g. refuse an empty endpoint list right after errors); a refused value leaves the old one, marked stale. */
  accept?: (next: T, prev: T | undefined) => boolean;
  /** Closes the view. */
  signal?: AbortSignal;
  /** Name for diagnostics. */
  name?: string;
  /** Clock in ms. Default `performance.now`. */
  now?: () => number;
}

export type ViewState = 'initializing' | 'synced' | 'stale' | 'closed';

export interface ViewStats {
  reads: number;
  events: number;
  /** Events that arrived while a read was pending or in flight and were folded into it. */
  coalesced: number;
  errors: number;
  resyncs: number;
  /** Results older than what was published, dropped. */
  dropped: number;
  refused: number;
  lastSyncAt: number | undefined;
  staleForMs: number;
}

/** `halfopen:rearm:stale` `{ view, reason }` and `halfopen:rearm:error` `{ view, error }`. */
export const channels = {
  stale: diagnostics.channel('halfopen:rearm:stale'),
  error: diagnostics.channel('halfopen:rearm:error'),
};

function ms(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new TypeError(`options.${name} must be a number of milliseconds, got ${typeof v}`);
  if (v < 0 || !Number.isFinite(v))
    throw new RangeError(`options.${name} must be a finite number >= 0, got ${v}`);
  return v;
}

/** A value kept in step with a one-shot-watch store. */
export class WatchedView<T, V> implements AsyncDisposable {
  readonly name: string;
  readonly ready: Promise<void>;
  private readonly topic: Topic<{ value: T; version: V }>;
  private snapshot: { value: T; version: V; syncedAt: number } | undefined;
  private stateNow: ViewState = 'initializing';
  private staleSince = -1;
  private readonly counters = {
    reads: 0,
    events: 0,
    coalesced: 0,
    errors: 0,
    resyncs: 0,
    dropped: 0,
    refused: 0,
  };
  private wanted = true; // a read is needed
  private wake: (() => void) | undefined;
  private readonly closing = new AbortController();
  private resyncTimer: NodeJS.Timeout | undefined;
  private staleTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private resolveReady!: () => void;

  /** @internal use rearm() */
  constructor(
    private readonly source: OneShotWatchSource<T, V>,
    private readonly options: RearmOptions<T>,
  ) {
    this.name = options.name ?? 'view';
    this.now = options.now ?? (() => performance.now());
    this.topic = new Topic({ name: this.name, replay: true });
    this.ready = new Promise((r) => {
      this.resolveReady = r;
    });
    if (options.signal) {
      if (options.signal.aborted) queueMicrotask(() => this.close());
      else options.signal.addEventListener('abort', () => this.close(), { once: true });
    }
    void this.loop();
  }

  get current(): { value: T; version: V; syncedAt: number } | undefined {
    return this.snapshot && { ...this.snapshot };
  }

  get state(): ViewState {
    return this.stateNow;
  }

  /** Current value first (when there is one), then each newer version (through @halfopen/registry). */
  subscribe(
    listener: (value: T, version: V) => unknown,
    options?: SubscribeOptions,
  ): Subscription<{ value: T; version: V }> {
    return this.topic.subscribe((s) => listener(s.value, s.version), options);
  }

  stats(): ViewStats {
    return {
      ...this.counters,
      lastSyncAt: this.snapshot?.syncedAt,
      staleForMs: this.staleSince < 0 ? 0 : this.now() - this.staleSince,
    };
  }

  /** Stops reading and watching; subscribers are unsubscribed. Idempotent. */
  close(): void {
    if (this.stateNow === 'closed') return;
    this.stateNow = 'closed';
    this.closing.abort(new Error(`view ${this.name} closed`));
    clearTimeout(this.resyncTimer);
    clearTimeout(this.staleTimer);
    this.wake?.();
    this.topic.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private request(): void {
    this.wanted = true;
    this.wake?.();
  }

  private onEvent(ev: WatchEvent): void {
    if (this.stateNow === 'closed') return;
    this.counters.events++;
    if (ev.kind === 'lost') this.markStale(`watch lost: ${ev.reason}`);
    if (this.wanted) this.counters.coalesced++;
    this.request();
  }

  private markStale(reason: string): void {
    if (this.stateNow === 'closed') return;
    if (this.staleSince < 0) this.staleSince = this.now();
    if (this.stateNow !== 'stale') {
      this.stateNow = 'stale';
      if (channels.stale.hasSubscribers) channels.stale.publish({ view: this.name, reason });
    }
  }

  private armResync(): void {
    clearTimeout(this.resyncTimer);
    const every = this.options.resyncIntervalMs;
    if (!every || this.stateNow === 'closed') return;
    this.resyncTimer = setTimeout(
      () => {
        this.counters.resyncs++;
        this.request();
      },
      every * (0.9 + 0.2 * Math.random()),
    );
    this.resyncTimer.unref();
  }

  private async loop(): Promise<void> {
    const { coalesceMs = 0 } = this.options;
    while (this.stateNow !== 'closed') {
      if (!this.wanted) {
        await new Promise<void>((r) => {
          this.wake = r;
        });
        this.wake = undefined;
        continue;
      }
      if (coalesceMs > 0 && this.snapshot) {
        await new Promise((r) => setTimeout(r, coalesceMs).unref());
        if ((this.stateNow as ViewState) === 'closed') return;
      }
      this.wanted = false;
      const result = await this.readOnce();
      if (!result) continue;
      this.apply(result);
      result.next.then(
        (ev) => this.onEvent(ev),
        () => this.onEvent({ kind: 'lost', reason: 'not-watching' }),
      );
      this.armResync();
    }
  }

  /** One read, with its retries and deadline; undefined when closed. */
  private async readOnce(): Promise<
    { value: T; version: V; next: Promise<WatchEvent> } | undefined
  > {
    const { readTimeoutMs, staleAfterMs, retry = {} } = this.options;
    if (staleAfterMs && this.staleTimer === undefined) {
      this.staleTimer = setTimeout(
        () => this.markStale(`no successful read for ${staleAfterMs} ms`),
        staleAfterMs,
      );
      this.staleTimer.unref();
    }
    try {
      return await pRetry(
        async () => {
          this.counters.reads++;
          const attempt = AbortSignal.any(
            readTimeoutMs
              ? [this.closing.signal, AbortSignal.timeout(readTimeoutMs)]
              : [this.closing.signal],
          );
          return await Promise.race([
            this.source.read(attempt),
            new Promise<never>((_, reject) => {
              if (attempt.aborted) reject(attempt.reason);
              attempt.addEventListener('abort', () => reject(attempt.reason), { once: true });
            }),
          ]);
        },
        {
          retries: retry.retries ?? Number.POSITIVE_INFINITY,
          factor: retry.factor ?? 2,
          minTimeout: retry.minTimeout ?? 100,
          maxTimeout: retry.maxTimeout ?? 10_000,
          randomize: retry.randomize ?? true,
          signal: this.closing.signal,
          onFailedAttempt: ({ error }) => {
            if (this.stateNow === 'closed') return;
            this.counters.errors++;
            if (channels.error.hasSubscribers) channels.error.publish({ view: this.name, error });
            if (this.snapshot) this.markStale(`read failed: ${error.message}`);
          },
        },
      );
    } catch (err) {
      if (this.stateNow === 'closed') return undefined;
      // Retries ran out and no watch is armed: try again after the backoff cap, stale meanwhile.
      this.markStale(`read failed: ${(err as Error).message}`);
      const again = setTimeout(() => this.request(), retry.maxTimeout ?? 10_000);
      again.unref();
      return undefined;
    } finally {
      clearTimeout(this.staleTimer);
      this.staleTimer = undefined;
    }
  }

  private apply(r: { value: T; version: V }): void {
    const prev = this.snapshot;
    if (prev && this.source.compare(r.version, prev.version) < 0) {
      this.counters.dropped++; // an older read: a published version never goes backwards
      return;
    }
    if (this.options.accept && !this.options.accept(r.value, prev?.value)) {
      this.counters.refused++;
      this.markStale('accept() refused the new value');
      return;
    }
    this.snapshot = { value: r.value, version: r.version, syncedAt: this.now() };
    this.stateNow = 'synced';
    this.staleSince = -1;
    if (!prev || this.source.compare(r.version, prev.version) > 0)
      this.topic.publish({ value: r.value, version: r.version });
    this.resolveReady();
  }
}

/**
 * Keeps a value in step with a one-shot-watch store: every read arms the next watch, one read
 * at a time, events during a read fold into one follow-up read, versions never go backwards,
 * failures retry with backoff, and staleness is visible.
 */
export function rearm<T, V>(
  source: OneShotWatchSource<T, V>,
  options: RearmOptions<T> = {},
): WatchedView<T, V> {
  if (!source || typeof source.read !== 'function' || typeof source.compare !== 'function') {
    throw new TypeError('rearm(source): source must have read(signal) and compare(a, b)');
  }
  if (options === null || typeof options !== 'object')
    throw new TypeError('options must be an object');
  for (const k of ['readTimeoutMs', 'coalesceMs', 'resyncIntervalMs', 'staleAfterMs'] as const)
    ms(options[k], k);
  if (options.readTimeoutMs === 0) throw new RangeError('options.readTimeoutMs must be > 0');
  if (options.resyncIntervalMs === 0)
    throw new RangeError('options.resyncIntervalMs must be > 0 (omit it to turn resync off)');
  for (const k of ['accept', 'now'] as const) {
    if (options[k] !== undefined && typeof options[k] !== 'function')
      throw new TypeError(`options.${k} must be a function`);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    throw new TypeError('options.signal must be an AbortSignal');
  return new WatchedView(source, options);
}

/** What changed between two endpoint lists. */
export function diffMembers<T>(prev: Iterable<T>, next: Iterable<T>): { added: T[]; removed: T[] } {
  const a = new Set(prev);
  const b = new Set(next);
  return { added: [...b].filter((x) => !a.has(x)), removed: [...a].filter((x) => !b.has(x)) };
}
