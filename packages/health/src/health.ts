import {
  bool,
  callUserAsync,
  checkOptions,
  count,
  describe,
  fn,
  Lifecycle,
  ms,
  oneOf,
  publish,
} from '@halfopen/internal';
import { channels } from './diagnostics.js';
import { HealthError } from './errors.js';

/** What a check found. `degraded` is reported but keeps the node ready and alive. */
export type CheckState = 'healthy' | 'degraded' | 'failing';

/** Numbers (and short strings or flags) that back a reason up. */
export type Evidence = Record<string, number | string | boolean | null>;

/** What a check returns (or resolves with). */
export interface CheckResult {
  state: CheckState;
  /** One line saying why; longer text is cut at 200 characters, line breaks become spaces. */
  reason?: string;
  evidence?: Evidence;
}

/** What a check is called with. */
export interface CheckContext {
  /** Aborts when the check's budget runs out or the Health closes. */
  signal: AbortSignal;
  /** The Health's clock when this evaluation started (ms). */
  now: number;
}

/**
 * A check: called every `intervalMs` with a budget of `budgetMs`. A throw, a rejection, a
 * result that is not a `CheckResult` or no answer within the budget is reported as failing
 * with that reason. An optional `Symbol.dispose` runs when the check is removed or the Health
 * closes (built-in checks release their histogram or channel subscription there).
 */
export type Check = ((context: CheckContext) => CheckResult | PromiseLike<CheckResult>) & {
  [Symbol.dispose]?: () => void;
};

/** Which question is asked: can this node serve now (readiness), or would a restart help (liveness)? */
export type Probe = 'readiness' | 'liveness';

export interface HealthOptions {
  /** Names this Health in diagnostics messages and the report (several may share a process). Default: 'health'. */
  name?: string;
  /** How often each check runs. Default: 1000. */
  intervalMs?: number;
  /** How long a check may take before it is reported as failing (at most `intervalMs`). Default: intervalMs / 2. */
  budgetMs?: number;
  /** Liveness fails after this many consecutive failing results of a liveness check. Default: 3. */
  failAfter?: number;
  /** A failed liveness check recovers after this many consecutive results that are not failing. Default: 2. */
  recoverAfter?: number;
  /** Clock in ms since the epoch, for `since`, `checkedAt` and the checks' `now`. Default: `Date.now`. */
  now?: () => number;
}

export interface AddOptions {
  /** Default: the Health's `intervalMs`. */
  intervalMs?: number;
  /** Default: the Health's `budgetMs` (at most this check's `intervalMs`). */
  budgetMs?: number;
  /** A failing result makes readiness fail at once. Default: true. */
  readiness?: boolean;
  /** Counts toward liveness, through `failAfter` / `recoverAfter`. Default: false (only checks a restart would fix). */
  liveness?: boolean;
  /** Default: the Health's `failAfter`. */
  failAfter?: number;
  /** Default: the Health's `recoverAfter`. */
  recoverAfter?: number;
}

/** One check as the answer shows it. */
export interface CheckStatus {
  name: string;
  /** The latest result; 'unknown' before the first one. */
  state: CheckState | 'unknown';
  reason: string;
  evidence: Evidence;
  /** When `state` began (ISO time). */
  since: string;
  /** When the latest result arrived (ISO time), or null before the first. */
  checkedAt: string | null;
  readiness: boolean;
  liveness: boolean;
  /** The liveness verdict after hysteresis: false once `failAfter` consecutive results failed. */
  live: boolean;
  /** Consecutive failing results. */
  failures: number;
}

/** An answer for a probe: status code, JSON body and headers, ready to send. */
export interface HealthReport {
  status: 200 | 503;
  ok: boolean;
  body: string;
  headers: Readonly<Record<string, string>>;
}

const HEALTH_KEYS = ['name', 'intervalMs', 'budgetMs', 'failAfter', 'recoverAfter', 'now'] as const;
const ADD_KEYS = [
  'intervalMs',
  'budgetMs',
  'readiness',
  'liveness',
  'failAfter',
  'recoverAfter',
] as const;
const STATES: readonly string[] = ['healthy', 'degraded', 'failing'];
const MAX_REASON = 200;
const MAX_EVIDENCE = 32;

interface Entry {
  readonly name: string;
  readonly check: Check;
  readonly intervalMs: number;
  readonly budgetMs: number;
  readonly readiness: boolean;
  readonly liveness: boolean;
  readonly failAfter: number;
  readonly recoverAfter: number;
  state: CheckState | 'unknown';
  reason: string;
  evidence: Evidence;
  since: number;
  checkedAt: number | undefined;
  failures: number;
  passes: number;
  live: boolean;
  /** An evaluation waiting for its result or its budget. */
  pending: Promise<void> | undefined;
  /** Ends the pending evaluation without a result (close, remove). */
  cancel: (() => void) | undefined;
  /** The user's call has not settled yet (possibly past its budget). */
  callOpen: boolean;
  startedAt: number;
  removed: boolean;
}

/** Text as one line of at most 200 characters. */
export function oneLine(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > MAX_REASON ? `${t.slice(0, MAX_REASON - 3)}...` : t;
}

/** What an error says, however strange the thrown value. */
function says(error: unknown): string {
  try {
    if (error instanceof Error) return oneLine(`${error.name}: ${error.message}`);
    return describe(error);
  } catch {
    return 'an unreadable error';
  }
}

function failing(reason: string, evidence: Evidence = {}): CheckResult {
  return { state: 'failing', reason, evidence };
}

/** A check's answer as recorded: anything that is not a CheckResult is a failing one saying so. */
export function normalize(result: unknown): Required<CheckResult> {
  if (result === null || typeof result !== 'object') {
    return failing(
      `check returned ${describe(result)}, not { state, reason }`,
    ) as Required<CheckResult>;
  }
  try {
    const { state, reason, evidence } = result as Record<string, unknown>;
    if (typeof state !== 'string' || !STATES.includes(state)) {
      return failing(
        `check returned state ${describe(state)}, not 'healthy', 'degraded' or 'failing'`,
      ) as Required<CheckResult>;
    }
    const out: Evidence = Object.create(null); // a key named __proto__ stays a key
    if (evidence !== null && typeof evidence === 'object' && !Array.isArray(evidence)) {
      let n = 0;
      for (const [k, v] of Object.entries(evidence)) {
        if (n++ >= MAX_EVIDENCE) break;
        if (typeof v === 'number') out[k] = Number.isFinite(v) ? v : String(v);
        else if (typeof v === 'string') out[k] = oneLine(v);
        else if (typeof v === 'boolean' || v === null) out[k] = v;
      }
    }
    return {
      state: state as CheckState,
      reason: typeof reason === 'string' ? oneLine(reason) : state,
      evidence: out,
    };
  } catch (error) {
    return failing(`check result could not be read: ${says(error)}`) as Required<CheckResult>;
  }
}

const iso = (t: number) => {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString();
};

/**
 * Checks registered by name, each run on its own interval with a budget; readiness and
 * liveness answered from the cached results, so a probe storm never runs a check.
 */
export class Health implements Disposable {
  readonly name: string;
  readonly intervalMs: number;
  readonly budgetMs: number;
  readonly failAfter: number;
  readonly recoverAfter: number;
  readonly #now: () => number;
  readonly #life = new Lifecycle();
  readonly #entries = new Map<string, Entry>();
  readonly #cache: Partial<Record<Probe, HealthReport>> = {};
  readonly #ok: Record<Probe, boolean> = { readiness: true, liveness: true };

  constructor(options?: HealthOptions) {
    const o = checkOptions(options, HEALTH_KEYS);
    if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length > 100)) {
      throw new TypeError(
        `options.name must be a string of at most 100 characters, got ${describe(o.name)}`,
      );
    }
    this.name = o.name ?? 'health';
    this.intervalMs = ms(o.intervalMs, 'options.intervalMs', { default: 1000, min: 1 });
    this.budgetMs = ms(o.budgetMs, 'options.budgetMs', {
      default: Math.max(1, this.intervalMs / 2),
      min: 1,
      max: this.intervalMs,
    });
    this.failAfter = count(o.failAfter, 'options.failAfter', { default: 3, min: 1, max: 1e6 });
    this.recoverAfter = count(o.recoverAfter, 'options.recoverAfter', {
      default: 2,
      min: 1,
      max: 1e6,
    });
    this.#now = fn(o.now, 'options.now') ?? Date.now;
  }

  /** True once `close()` ran: readiness fails from then on. */
  get closed(): boolean {
    return this.#life.closed;
  }

  /** Names of the registered checks, in registration order. */
  get names(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * Registers `check` under `name` and runs it at once, then every `intervalMs`. Readiness
   * fails until its first result. Returns this Health.
   */
  add(name: string, check: Check, options?: AddOptions): this {
    if (typeof name !== 'string' || name === '' || name.length > 100) {
      throw new TypeError(
        `name must be a non-empty string of at most 100 characters, got ${describe(name)}`,
      );
    }
    if (typeof check !== 'function') {
      throw new TypeError(`check must be a function, got ${describe(check)}`);
    }
    const o = checkOptions(options, ADD_KEYS);
    const intervalMs = ms(o.intervalMs, 'options.intervalMs', { default: this.intervalMs, min: 1 });
    const budgetMs = ms(o.budgetMs, 'options.budgetMs', {
      default: Math.min(this.budgetMs, intervalMs),
      min: 1,
      max: intervalMs,
    });
    const readiness = bool(o.readiness, 'options.readiness', true);
    const liveness = bool(o.liveness, 'options.liveness', false);
    const failAfter = count(o.failAfter, 'options.failAfter', {
      default: this.failAfter,
      min: 1,
      max: 1e6,
    });
    const recoverAfter = count(o.recoverAfter, 'options.recoverAfter', {
      default: this.recoverAfter,
      min: 1,
      max: 1e6,
    });
    if (this.#life.closed) throw this.#closedError();
    if (this.#entries.has(name)) {
      throw new HealthError(
        'HALFOPEN_ERR_HEALTH_DUPLICATE',
        `a check named ${describe(name)} is already registered`,
      );
    }
    const e: Entry = {
      name,
      check,
      intervalMs,
      budgetMs,
      readiness,
      liveness,
      failAfter,
      recoverAfter,
      state: 'unknown',
      reason: 'not checked yet',
      evidence: {},
      since: this.#clock(),
      checkedAt: undefined,
      failures: 0,
      passes: 0,
      live: true,
      pending: undefined,
      cancel: undefined,
      callOpen: false,
      startedAt: 0,
      removed: false,
    };
    this.#entries.set(name, e);
    this.#changed();
    this.#tick(e);
    return this;
  }

  /** Stops and forgets the check named `name` (its dispose runs). False when there is none. */
  remove(name: string): boolean {
    const e = this.#entries.get(name);
    if (!e) return false;
    this.#entries.delete(name);
    this.#drop(e);
    this.#changed();
    return true;
  }

  /**
   * Runs the named check (or every check) now, outside its schedule, and resolves once its
   * result (or its budget's failure) is recorded. A check whose previous call is still running
   * is not called again: it is recorded as failing, still running.
   */
  runNow(name?: string): Promise<void> {
    if (this.#life.closed) return Promise.reject(this.#closedError());
    let list: Entry[];
    if (name === undefined) list = [...this.#entries.values()];
    else {
      const e = this.#entries.get(name);
      if (!e) return Promise.reject(new TypeError(`name: no check named ${describe(name)}`));
      list = [e];
    }
    return this.#life.track(
      Promise.all(list.map((e) => this.#run(e))).then(() => {}),
      () => this.#closedError(),
    );
  }

  /** Every check's state, reason, evidence and since when (copies). */
  checks(): CheckStatus[] {
    return [...this.#entries.values()].map((e) => this.#status(e));
  }

  /**
   * The answer for `probe`, from cached state (no check runs): 200 when it passes, 503 when it
   * fails, with a JSON body listing every check. Readiness fails while any readiness check's
   * latest result is failing or missing, and after close; liveness fails while any liveness
   * check has failed `failAfter` times in a row and not yet recovered.
   */
  report(probe: Probe = 'readiness'): HealthReport {
    if (probe !== 'readiness' && probe !== 'liveness') {
      throw new TypeError(`probe must be 'readiness' or 'liveness', got ${describe(probe)}`);
    }
    const cached = this.#cache[probe];
    if (cached) return cached;
    const { ok, state, reason } = this.#verdict(probe);
    const body = JSON.stringify({
      health: this.name,
      probe,
      ok,
      state,
      reason,
      closed: this.#life.closed,
      checks: this.checks(),
    });
    const report: HealthReport = Object.freeze({
      status: ok ? 200 : 503,
      ok,
      body,
      headers: Object.freeze({
        'content-type': 'application/json; charset=utf-8',
        'content-length': String(Buffer.byteLength(body)),
        'cache-control': 'no-store',
      }),
    });
    this.#cache[probe] = report;
    return report;
  }

  /**
   * Stops every check (their signals abort, their dispose runs), rejects pending `runNow`
   * calls with HALFOPEN_ERR_HEALTH_CLOSED; readiness fails from then on (a node shutting down
   * is not ready); liveness keeps its last verdict. Idempotent.
   */
  close(): void {
    if (!this.#life.close(this.#closedError())) return;
    for (const e of this.#entries.values()) this.#drop(e);
    this.#changed();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #clock(): number {
    try {
      const t = this.#now();
      return typeof t === 'number' && Number.isFinite(t) ? t : Date.now();
    } catch {
      return Date.now();
    }
  }

  #closedError(): HealthError {
    return new HealthError('HALFOPEN_ERR_HEALTH_CLOSED', 'health closed');
  }

  #drop(e: Entry): void {
    e.removed = true;
    e.cancel?.();
    const dispose = e.check[Symbol.dispose];
    if (typeof dispose === 'function') {
      try {
        dispose.call(e.check);
      } catch {
        // a check's cleanup failing must not stop the others
      }
    }
  }

  #tick(e: Entry): void {
    if (e.removed || this.#life.closed) return;
    void this.#run(e);
    this.#life.timeout(() => this.#tick(e), e.intervalMs);
  }

  #run(e: Entry): Promise<void> {
    if (e.removed || this.#life.closed) return Promise.resolve();
    if (e.pending) return e.pending;
    const now = this.#clock();
    if (e.callOpen) {
      // Its previous call never answered: one call at a time, so a hung check cannot pile up.
      const runningMs = Math.max(0, now - e.startedAt);
      this.#record(
        e,
        failing(`still running after ${Math.round(runningMs)} ms (budget ${e.budgetMs} ms)`, {
          runningMs,
          budgetMs: e.budgetMs,
        }) as Required<CheckResult>,
      );
      return Promise.resolve();
    }
    e.callOpen = true;
    e.startedAt = now;
    const controller = new AbortController();
    let settle!: () => void;
    const pending = new Promise<void>((r) => {
      settle = r;
    });
    let done = false;
    const finish = (result: Required<CheckResult> | undefined) => {
      if (done) return;
      done = true;
      budget.cancel();
      e.pending = undefined;
      e.cancel = undefined;
      if (result && !e.removed && !this.#life.closed) this.#record(e, result);
      settle();
    };
    const budget = this.#life.timeout(() => {
      controller.abort(
        new HealthError(
          'HALFOPEN_ERR_HEALTH_BUDGET',
          `check ${e.name} did not answer within its budget of ${e.budgetMs} ms`,
        ),
      );
      finish(
        failing(`no answer within its budget of ${e.budgetMs} ms`, {
          budgetMs: e.budgetMs,
        }) as Required<CheckResult>,
      );
    }, e.budgetMs);
    e.pending = pending;
    e.cancel = () => {
      controller.abort(this.#closedError());
      finish(undefined);
    };
    callUserAsync(e.check, [{ signal: controller.signal, now }]).then(
      (result) => {
        e.callOpen = false;
        finish(normalize(result));
      },
      (error: unknown) => {
        e.callOpen = false;
        finish(failing(`check threw ${says(error)}`) as Required<CheckResult>);
      },
    );
    return pending;
  }

  #record(e: Entry, r: Required<CheckResult>): void {
    const now = this.#clock();
    const from = e.state;
    e.checkedAt = now;
    e.reason = r.reason;
    e.evidence = r.evidence;
    if (r.state === 'failing') {
      e.failures++;
      e.passes = 0;
      if (e.live && e.failures >= e.failAfter) e.live = false;
    } else {
      e.passes++;
      e.failures = 0;
      if (!e.live && e.passes >= e.recoverAfter) e.live = true;
    }
    if (from !== r.state) {
      e.state = r.state;
      e.since = now;
      publish(channels.change, {
        health: this.name,
        check: e.name,
        from,
        to: r.state,
        reason: r.reason,
        evidence: r.evidence,
        since: now,
      });
    }
    this.#changed();
  }

  /** Drops the cached answers and tells the status channel when a probe's verdict flipped. */
  #changed(): void {
    this.#cache.readiness = undefined;
    this.#cache.liveness = undefined;
    for (const probe of ['readiness', 'liveness'] as const) {
      const { ok, reason } = this.#verdict(probe);
      if (ok !== this.#ok[probe]) {
        this.#ok[probe] = ok;
        publish(channels.status, { health: this.name, probe, ok, reason });
      }
    }
  }

  #verdict(probe: Probe): { ok: boolean; state: CheckState; reason: string } {
    if (probe === 'readiness' && this.#life.closed) {
      return { ok: false, state: 'failing', reason: 'health closed: shutting down' };
    }
    let failed: Entry | undefined;
    let degraded: Entry | undefined;
    for (const e of this.#entries.values()) {
      if (probe === 'readiness') {
        if (!e.readiness) continue;
        if (e.state === 'failing' || e.state === 'unknown') failed ??= e;
        else if (e.state === 'degraded') degraded ??= e;
      } else {
        if (!e.liveness) continue;
        if (!e.live) failed ??= e;
        else if (e.state === 'failing' || e.state === 'degraded') degraded ??= e;
      }
    }
    if (failed) return { ok: false, state: 'failing', reason: `${failed.name}: ${failed.reason}` };
    if (degraded)
      return { ok: true, state: 'degraded', reason: `${degraded.name}: ${degraded.reason}` };
    return { ok: true, state: 'healthy', reason: 'every check passes' };
  }

  #status(e: Entry): CheckStatus {
    return {
      name: e.name,
      state: e.state,
      reason: e.reason,
      evidence: { ...e.evidence },
      since: iso(e.since),
      checkedAt: e.checkedAt === undefined ? null : iso(e.checkedAt),
      readiness: e.readiness,
      liveness: e.liveness,
      live: e.live,
      failures: e.failures,
    };
  }
}

/** Checks a probe name given by a user. */
export function probeName(v: unknown, name: string): Probe {
  return oneOf(v, name, ['readiness', 'liveness'] as const, 'readiness');
}
