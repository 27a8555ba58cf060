// Built-in checks. Those that read other halfopen packages take structural types (what the
// check calls, nothing more) and subscribe to their diagnostics channels by name: this package
// has no runtime dependency on them, and works with any object of the same shape.
import diagnostics from 'node:diagnostics_channel';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { checkOptions, count, describe, fn, fraction, ms } from '@halfopen/internal';
import type { Check, CheckContext, CheckResult, Evidence } from './health.js';

const round = (n: number) => Math.round(n * 10) / 10;

/** A check that also releases what it holds when the Health closes or drops it. */
function disposable(check: (ctx: CheckContext) => CheckResult, dispose: () => void): Check {
  return Object.assign(check, { [Symbol.dispose]: dispose });
}

// ---------------------------------------------------------------------------------------------
// Event-loop delay

export interface EventLoopOptions {
  /** p99 delay since the previous evaluation at or above this is degraded. Default: 100. */
  degradedMs?: number;
  /** p99 delay at or above this is failing. Default: 1000. */
  failingMs?: number;
  /** Sampling resolution of the histogram. Default: 20. */
  resolutionMs?: number;
}

/**
 * The event loop's delay (perf_hooks.monitorEventLoopDelay), p99 over the time since the
 * previous evaluation. The histogram runs from the first evaluation until the check is disposed.
 */
export function eventLoopCheck(options?: EventLoopOptions): Check {
  const o = checkOptions(options, ['degradedMs', 'failingMs', 'resolutionMs']);
  const failingMs = ms(o.failingMs, 'options.failingMs', { default: 1000, min: 1 });
  const degradedMs = ms(o.degradedMs, 'options.degradedMs', {
    default: Math.min(100, failingMs),
    min: 1,
    max: failingMs,
  });
  const resolution = ms(o.resolutionMs, 'options.resolutionMs', {
    default: 20,
    min: 1,
    max: 10_000,
    integer: true,
  });
  let h: ReturnType<typeof monitorEventLoopDelay> | undefined;
  return disposable(
    () => {
      if (!h) {
        h = monitorEventLoopDelay({ resolution });
        h.enable();
        return { state: 'healthy', reason: 'measuring since now', evidence: {} };
      }
      const evidence: Evidence =
        h.count === 0
          ? { samples: 0 }
          : {
              p99Ms: round(h.percentile(99) / 1e6),
              maxMs: round(h.max / 1e6),
              meanMs: round(h.mean / 1e6),
              samples: h.count,
            };
      h.reset();
      const p99 = (evidence.p99Ms as number | undefined) ?? 0;
      const say = `event loop delay p99 ${p99} ms (max ${evidence.maxMs ?? 0} ms)`;
      if (p99 >= failingMs)
        return { state: 'failing', reason: `${say} >= ${failingMs} ms`, evidence };
      if (p99 >= degradedMs)
        return { state: 'degraded', reason: `${say} >= ${degradedMs} ms`, evidence };
      return { state: 'healthy', reason: say, evidence };
    },
    () => {
      h?.disable();
      h = undefined;
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Progress

export interface ProgressCheckOptions {
  /** No advance of `counter` for this long while there is work waiting is failing. Required. */
  stallMs: number;
  /** No advance for this long while work waits is degraded. Default: off. */
  degradedMs?: number;
  /** Reads the progress counter (messages consumed, requests answered). Required. */
  counter: () => number;
  /** Work waiting: a count (> 0 waits) or a boolean. Default: always (the counter must advance at least once per stallMs). */
  pending?: () => number | boolean;
  /** Names what progresses, in the reason. Default: 'progress'. */
  what?: string;
}

/**
 * "This counter must advance at least once per `stallMs` while there is work waiting." The
 * counter is read at each evaluation, so marking progress costs nothing on the hot path; a
 * stall is seen within `stallMs` plus one interval.
 */
export function progressCheck(options: ProgressCheckOptions): Check {
  const o = checkOptions(options, ['stallMs', 'degradedMs', 'counter', 'pending', 'what']);
  const stallMs = ms(o.stallMs, 'options.stallMs', { min: 1 });
  const degradedMs = ms(o.degradedMs, 'options.degradedMs', {
    default: 0,
    zeroOff: true,
    min: 1,
    max: stallMs,
  });
  const counter = fn(o.counter, 'options.counter');
  if (!counter) throw new TypeError('options.counter is required (a function returning a number)');
  const pending = fn(o.pending, 'options.pending');
  if (o.what !== undefined && typeof o.what !== 'string') {
    throw new TypeError(`options.what must be a string, got ${describe(o.what)}`);
  }
  const what = o.what ?? 'progress';
  let last: number | undefined;
  let waitingSince: number | undefined;
  return ({ now }) => {
    const c = counter();
    if (typeof c !== 'number' || Number.isNaN(c)) {
      return { state: 'failing', reason: `${what} counter returned ${describe(c)}, not a number` };
    }
    const p = pending ? pending() : true;
    const waiting = typeof p === 'number' ? p > 0 : p === true;
    const evidence: Evidence = { counter: c, pending: typeof p === 'number' ? p : waiting };
    if (c !== last) {
      last = c;
      waitingSince = waiting ? now : undefined;
      return { state: 'healthy', reason: `${what} advanced`, evidence };
    }
    if (!waiting) {
      waitingSince = undefined;
      return { state: 'healthy', reason: `${what}: idle, nothing waiting`, evidence };
    }
    waitingSince ??= now;
    const stalledMs = Math.max(0, now - waitingSince);
    evidence.stalledMs = stalledMs;
    const say = `${what}: no progress for ${Math.round(stalledMs)} ms while ${typeof p === 'number' ? `${p} wait` : 'work waits'}`;
    if (stalledMs >= stallMs)
      return { state: 'failing', reason: `${say} (stallMs ${stallMs})`, evidence };
    if (degradedMs > 0 && stalledMs >= degradedMs)
      return { state: 'degraded', reason: say, evidence };
    return { state: 'healthy', reason: say, evidence };
  };
}

/** Counters for work in and work done, with the check that watches them. */
export class Progress {
  #inputs = 0;
  #marks = 0;
  /** The check: `health.add('consumer', progress.check)`. */
  readonly check: Check;

  constructor(options: { stallMs: number; degradedMs?: number; what?: string }) {
    const o = checkOptions(options, ['stallMs', 'degradedMs', 'what']);
    this.check = progressCheck({
      ...o,
      counter: () => this.#marks,
      pending: () => this.#inputs - this.#marks,
    } as ProgressCheckOptions);
  }

  /** `n` items of work arrived (default 1). */
  input(n = 1): void {
    if (typeof n === 'number' && n > 0) this.#inputs += n;
  }

  /** `n` items of work were done (default 1). */
  mark(n = 1): void {
    if (typeof n === 'number' && n > 0) this.#marks += n;
  }

  /** Work arrived and not yet done. */
  get pending(): number {
    return Math.max(0, this.#inputs - this.#marks);
  }
}

/** `progress({ stallMs })`: `input()` when work arrives, `mark()` when it is done, `check` for the Health. */
export function progress(options: {
  stallMs: number;
  degradedMs?: number;
  what?: string;
}): Progress {
  return new Progress(options);
}

// ---------------------------------------------------------------------------------------------
// Locks (@halfopen/lease-lock or any lock with the same query API)

/** What lockCheck reads from a lock: a LeaseLock has it. */
export interface LockLike {
  readonly name: string;
  readonly warnAfterMs?: number | undefined;
  query(): {
    holder?: { label?: string | undefined; token: number; heldMs: number } | undefined;
    waiters: ArrayLike<unknown>;
  };
}

export interface LockCheckOptions {
  /** The locks to watch. Required. */
  locks: readonly LockLike[];
  /** A holding this old is failing. Default: each lock's own `warnAfterMs` (required when a lock has none). */
  heldMs?: number;
}

/**
 * Failing while a lock has been held past its warning, naming the holder, its token and the
 * waiters (the lock's `query()`); degraded when a stall was reported on
 * `halfopen:lease-lock:stall` since the previous evaluation but the lock has moved on.
 */
export function lockCheck(options: LockCheckOptions): Check {
  const o = checkOptions(options, ['locks', 'heldMs']);
  if (!Array.isArray(o.locks) || o.locks.length === 0) {
    throw new TypeError(
      `options.locks must be a non-empty array of locks, got ${describe(o.locks)}`,
    );
  }
  const heldMs = ms(o.heldMs, 'options.heldMs', { default: 0, zeroOff: true, min: 1 });
  const locks = o.locks.map((lock, i) => {
    if (lock === null || typeof lock !== 'object' || typeof lock.query !== 'function') {
      throw new TypeError(`options.locks[${i}] must be a lock with query(), got ${describe(lock)}`);
    }
    const limit = heldMs || lock.warnAfterMs;
    if (typeof limit !== 'number' || !(limit > 0)) {
      throw new RangeError(
        `options.heldMs is required: lock ${describe(lock.name)} has no warnAfterMs`,
      );
    }
    return { lock, limit };
  });
  const stalls = new Map<string, string>();
  const onStall = (message: unknown) => {
    const m = message as { lock?: unknown; holder?: { label?: unknown; heldMs?: unknown } };
    if (typeof m?.lock !== 'string') return;
    const label = typeof m.holder?.label === 'string' ? m.holder.label : 'an unlabelled holder';
    stalls.set(m.lock, label);
  };
  diagnostics.subscribe('halfopen:lease-lock:stall', onStall);
  return disposable(
    () => {
      let degraded: CheckResult | undefined;
      for (const { lock, limit } of locks) {
        const q = lock.query();
        const h = q.holder;
        const waiters = q.waiters?.length ?? 0;
        if (h && h.heldMs >= limit) {
          stalls.clear();
          return {
            state: 'failing',
            reason: `lock ${lock.name} held by ${h.label ?? 'an unlabelled holder'} (token ${h.token}) for ${Math.round(h.heldMs)} ms (limit ${limit} ms), ${waiters} waiting`,
            evidence: { heldMs: Math.round(h.heldMs), token: h.token, waiters, limitMs: limit },
          };
        }
        const stalled = stalls.get(lock.name);
        if (stalled !== undefined && !degraded) {
          degraded = {
            state: 'degraded',
            reason: `lock ${lock.name} was held past its warning by ${stalled} since the previous check, and moved on`,
            evidence: { waiters },
          };
        }
      }
      stalls.clear();
      return (
        degraded ?? { state: 'healthy', reason: `${locks.length} lock(s) moving`, evidence: {} }
      );
    },
    () => diagnostics.unsubscribe('halfopen:lease-lock:stall', onStall),
  );
}

// ---------------------------------------------------------------------------------------------
// Watched views (@halfopen/rearm)

/** What viewCheck reads from a view: a WatchedView has it. */
export interface ViewLike {
  readonly name?: string;
  readonly state: string;
  stats(): { staleForMs: number; errors?: number; lastSyncAt?: number | undefined };
}

export interface ViewCheckOptions {
  view: ViewLike;
  /** Stale for at least this long is failing (less is degraded). Default: 0 (stale is failing). */
  staleMs?: number;
}

/**
 * Failing while the view is stale (for `staleMs` or more), not yet synced or closed; the reason
 * carries its age and the last reason heard on `halfopen:rearm:stale`.
 */
export function viewCheck(options: ViewCheckOptions): Check {
  const o = checkOptions(options, ['view', 'staleMs']);
  const view = o.view;
  if (view === null || typeof view !== 'object' || typeof view.stats !== 'function') {
    throw new TypeError(`options.view must be a WatchedView (with stats()), got ${describe(view)}`);
  }
  const staleMs = ms(o.staleMs, 'options.staleMs', { default: 0 });
  const name = typeof view.name === 'string' ? view.name : 'view';
  let why: string | undefined;
  const onStale = (message: unknown) => {
    const m = message as { view?: unknown; reason?: unknown };
    if (m?.view === name && typeof m.reason === 'string') why = m.reason;
  };
  diagnostics.subscribe('halfopen:rearm:stale', onStale);
  return disposable(
    () => {
      const s = view.stats();
      const state = view.state;
      const evidence: Evidence = { staleForMs: Math.round(s.staleForMs), errors: s.errors ?? 0 };
      if (state === 'synced') {
        why = undefined;
        return { state: 'healthy', reason: `view ${name} synced`, evidence };
      }
      if (state === 'stale') {
        const say = `view ${name} stale for ${Math.round(s.staleForMs)} ms${why ? ` (${why})` : ''}`;
        return s.staleForMs >= staleMs
          ? { state: 'failing', reason: say, evidence }
          : { state: 'degraded', reason: say, evidence };
      }
      return {
        state: 'failing',
        reason: state === 'closed' ? `view ${name} closed` : `view ${name} not synced yet`,
        evidence,
      };
    },
    () => diagnostics.unsubscribe('halfopen:rearm:stale', onStale),
  );
}

// ---------------------------------------------------------------------------------------------
// Topics (@halfopen/registry)

/** What topicCheck reads from a topic: a Topic has it. */
export interface TopicLike {
  readonly name?: string;
  lagging(thresholdMs: number): ArrayLike<{ label?: string | undefined }>;
}

export interface TopicCheckOptions {
  topic: TopicLike;
  /** A subscriber behind for this long is failing. Required. */
  lagMs: number;
}

/** Failing while any subscriber of the topic has been behind for `lagMs`, naming them. */
export function topicCheck(options: TopicCheckOptions): Check {
  const o = checkOptions(options, ['topic', 'lagMs']);
  const topic = o.topic;
  if (topic === null || typeof topic !== 'object' || typeof topic.lagging !== 'function') {
    throw new TypeError(`options.topic must be a Topic (with lagging()), got ${describe(topic)}`);
  }
  const lagMs = ms(o.lagMs, 'options.lagMs');
  const name = typeof topic.name === 'string' ? topic.name : 'topic';
  return (): CheckResult => {
    const behind = Array.from(topic.lagging(lagMs));
    if (behind.length === 0) {
      return {
        state: 'healthy',
        reason: `no subscriber of ${name} behind`,
        evidence: { lagging: 0 },
      };
    }
    const labels = behind.map((s) => s.label ?? 'unlabelled').join(', ');
    return {
      state: 'failing',
      reason: `${behind.length} subscriber(s) of ${name} behind for ${lagMs} ms or more: ${labels}`,
      evidence: { lagging: behind.length, lagMs },
    };
  };
}

// ---------------------------------------------------------------------------------------------
// Server guards (@halfopen/idle-timeout)

/** What serverGuardCheck reads from a guard: a ServerGuard has it. */
export interface GuardLike {
  stats(): { guarded: number; active?: number; destroyed: Record<string, number> };
}

export interface ServerGuardCheckOptions {
  guard: GuardLike;
  /** Cutting more than this fraction of the connections guarded in a window is failing. Default: 0.5. */
  maxCutFraction?: number;
  /** A window closes once this many connections were guarded or cut; fewer keep the previous verdict. Default: 10. */
  minConnections?: number;
}

const sum = (r: Record<string, number>) => {
  let n = 0;
  for (const k in r) n += typeof r[k] === 'number' ? r[k] : 0;
  return n;
};

/**
 * Failing when the guard cut more than `maxCutFraction` of the connections it guarded since
 * the previous verdict (every one cut: none served), with the cut counts per deadline. A
 * verdict needs `minConnections`, so a quiet server keeps its last verdict instead of flapping.
 */
export function serverGuardCheck(options: ServerGuardCheckOptions): Check {
  const o = checkOptions(options, ['guard', 'maxCutFraction', 'minConnections']);
  const guard = o.guard;
  if (guard === null || typeof guard !== 'object' || typeof guard.stats !== 'function') {
    throw new TypeError(
      `options.guard must be a ServerGuard (with stats()), got ${describe(guard)}`,
    );
  }
  const maxCut = fraction(o.maxCutFraction, 'options.maxCutFraction', { default: 0.5 });
  const minConnections = count(o.minConnections, 'options.minConnections', {
    default: 10,
    min: 1,
  });
  let base: { guarded: number; destroyed: Record<string, number> } | undefined;
  let verdict: CheckResult = { state: 'healthy', reason: 'no connections yet', evidence: {} };
  return () => {
    const s = guard.stats();
    const now = { guarded: s.guarded, destroyed: { ...s.destroyed } };
    if (!base) {
      base = now;
      return verdict;
    }
    const guarded = now.guarded - base.guarded;
    const cutBy: Record<string, number> = {};
    for (const k in now.destroyed) {
      const d = (now.destroyed[k] ?? 0) - (base.destroyed[k] ?? 0);
      if (d > 0) cutBy[k] = d;
    }
    const cut = sum(cutBy);
    if (Math.max(guarded, cut) < minConnections) return verdict;
    base = now;
    const of = Math.max(guarded, cut);
    const share = cut / of;
    const by = Object.entries(cutBy)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    const evidence: Evidence = { guarded, cut, cutPercent: Math.round(share * 100), ...cutBy };
    verdict =
      share > maxCut
        ? {
            state: 'failing',
            reason: `cut ${cut} of ${of} connections (${Math.round(share * 100)}%)${share === 1 ? ', none served' : ''}: ${by}`,
            evidence,
          }
        : {
            state: 'healthy',
            reason: `cut ${cut} of ${of} connections (${Math.round(share * 100)}%)`,
            evidence,
          };
    return verdict;
  };
}
