import net from 'node:net';
import type { Socket, TcpNetConnectOpts } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import tls from 'node:tls';
import {
  bool,
  callUser,
  checkOptions,
  count,
  factor,
  describe,
  fn,
  MAX_TIMER_MS,
  ms,
  signal as checkSignal,
} from '@halfopen/internal';
import pRetry from 'p-retry';
import { ConnectClosedError, ConnectTimeoutError } from './errors.js';
import {
  applySettings,
  type CheckedSettings,
  checkSettings,
  checkUserTimeout,
  type KeepAliveReport,
  type KeepAliveSettings,
  reportOnly,
} from './keepalive.js';

export interface RetryOptions {
  /** Retries after the first attempt: an integer >= 0. Default 2. */
  retries?: number;
  /** Backoff growth per retry, >= 1. Default 2. */
  factor?: number;
  /** First backoff, ms, 0..2^31-1. Default 100. */
  minDelayMs?: number;
  /** Longest backoff, ms, 0..2^31-1. Default 2000. */
  maxDelayMs?: number;
  /** Jitter the backoff (x1..2). Default true. */
  randomize?: boolean;
}

export type ConnectOptions = Omit<
  TcpNetConnectOpts,
  'timeout' | 'keepAlive' | 'keepAliveInitialDelay' | 'signal'
> & {
  port: number;
  host?: string;
  /** Connect with TLS: true, or tls.connect options (servername, ca, ...). Default: plain TCP. */
  tls?: boolean | ConnectionOptions;
  /** One deadline for everything: DNS, every attempt, every backoff (one timer), 1..2^31-1 ms. Default: none. */
  timeoutMs?: number;
  /** Deadline per attempt, 1..2^31-1 ms; an attempt that does not finish its handshake is destroyed. Default: none. */
  attemptTimeoutMs?: number;
  /** Retries (a count, or p-retry-style options). Default: 2 retries, 100..2000 ms jittered backoff. */
  retries?: number | RetryOptions;
  /**
   * Which failures are worth another attempt; synchronous: `true` (or any truthy value that is not
   * a promise) retries. A throw ends the connect with what it threw. Default:
   * `isRetryableConnectError` (refused, unreachable, reset, attempt timed out, DNS EAI_AGAIN).
   */
  retryOn?: (err: unknown) => boolean;
  /** Keepalive settings applied once connected, or false. Default: idle 15 s, interval 5 s, count 3 (dead peer noticed within 30 s). */
  keepAlive?: KeepAliveSettings | false;
  /**
   * TCP_USER_TIMEOUT in ms, 0..2^31-1 (0 = system default). Applied with `keepAlive: false` too.
   * Default with keepalive on: its detection time; with keepalive off: not set.
   */
  userTimeoutMs?: number;
  /** Disable Nagle. Default: Node's (off). */
  noDelay?: boolean;
  /** Throw (and close the socket) if a keepalive setting cannot be applied here. Default false: report it. */
  strict?: boolean;
  /** Receives the keepalive report of the connected socket. A throw ends the connect with it. */
  onReport?: (report: KeepAliveReport) => void;
  signal?: AbortSignal;
};

const KEYS = [
  // ours
  'port',
  'host',
  'tls',
  'timeoutMs',
  'attemptTimeoutMs',
  'retries',
  'retryOn',
  'keepAlive',
  'userTimeoutMs',
  'noDelay',
  'strict',
  'onReport',
  'signal',
  // passed to net.connect / tls.connect
  'localAddress',
  'localPort',
  'hints',
  'family',
  'lookup',
  'autoSelectFamily',
  'autoSelectFamilyAttemptTimeout',
  'blockList',
  'onread',
  'fd',
  'allowHalfOpen',
  'readable',
  'writable',
] as const;
const RETRY_KEYS = ['retries', 'factor', 'minDelayMs', 'maxDelayMs', 'randomize'] as const;

export const DEFAULT_KEEPALIVE: KeepAliveSettings = { idleMs: 15_000, intervalMs: 5_000, count: 3 };
const RETRYABLE = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EAI_AGAIN',
  'HALFOPEN_ERR_CONNECT_TIMEOUT',
]);

/** The default `retryOn`: failures a later attempt can plausibly get past. */
export function isRetryableConnectError(err: unknown): boolean {
  return RETRYABLE.has((err as { code?: string } | null)?.code ?? '');
}

interface Retry {
  retries: number;
  factor: number;
  minDelayMs: number;
  maxDelayMs: number;
  randomize: boolean;
}

function checkRetries(v: unknown): Retry {
  if (typeof v !== 'object' || v === null) {
    const retries = count(v, 'options.retries', { default: 2 });
    return { retries, factor: 2, minDelayMs: 100, maxDelayMs: 2000, randomize: true };
  }
  const r = checkOptions(v as RetryOptions, RETRY_KEYS, 'options.retries');
  return {
    retries: count(r.retries, 'options.retries.retries', { default: 2 }),
    factor: factor(r.factor, 'options.retries.factor', { default: 2 }),
    minDelayMs: ms(r.minDelayMs, 'options.retries.minDelayMs', { default: 100 }),
    maxDelayMs: ms(r.maxDelayMs, 'options.retries.maxDelayMs', { default: 2000 }),
    randomize: bool(r.randomize, 'options.retries.randomize', true),
  };
}

/** Whether a truthy, non-thenable answer came back (a promise is not awaited: it means no). */
function truthy(v: unknown): boolean {
  return !!v && typeof (v as { then?: unknown }).then !== 'function';
}

/**
 * Connects with every wait bounded: an overall deadline, a deadline per attempt, retries with
 * jittered backoff; then turns on keepalive (idle/interval/count) and TCP_USER_TIMEOUT and reads
 * them back. Aborting, or running out of time, destroys the attempt in flight and clears every timer.
 */
export async function connect(options: ConnectOptions): Promise<Socket | TLSSocket> {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new TypeError(
      `connect(options): options must be an object with a port, got ${describe(options)}`,
    );
  checkOptions(options, KEYS, 'options');
  const {
    tls: tlsOption,
    timeoutMs: rawTimeout,
    attemptTimeoutMs: rawAttempt,
    retries: rawRetries,
    retryOn: rawRetryOn,
    keepAlive = DEFAULT_KEEPALIVE,
    userTimeoutMs: rawUserTimeout,
    noDelay,
    strict: rawStrict,
    onReport: rawOnReport,
    signal: rawSignal,
    ...socketOptions
  } = options;
  const port = options.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new (typeof port === 'number' ? RangeError : TypeError)(
      `options.port must be an integer within 0..65535, got ${describe(port)}`,
    );
  const host = options.host ?? 'localhost';
  if (typeof host !== 'string')
    throw new TypeError(`options.host must be a string, got ${describe(host)}`);
  if (
    tlsOption !== undefined &&
    typeof tlsOption !== 'boolean' &&
    (tlsOption === null || typeof tlsOption !== 'object')
  )
    throw new TypeError(
      `options.tls must be a boolean or tls.connect options, got ${describe(tlsOption)}`,
    );
  const timeoutMs =
    rawTimeout === undefined
      ? undefined
      : ms(rawTimeout, 'options.timeoutMs', { min: 1, max: MAX_TIMER_MS });
  const attemptTimeoutMs =
    rawAttempt === undefined
      ? undefined
      : ms(rawAttempt, 'options.attemptTimeoutMs', { min: 1, max: MAX_TIMER_MS });
  const r = checkRetries(rawRetries);
  const retryOn = fn(rawRetryOn, 'options.retryOn') ?? isRetryableConnectError;
  const onReport = fn(rawOnReport, 'options.onReport');
  const strict = bool(rawStrict, 'options.strict', false);
  if (noDelay !== undefined) bool(noDelay, 'options.noDelay', false);
  const signal = checkSignal(rawSignal);
  let settings: CheckedSettings | undefined;
  let userTimeoutMs = 0;
  if (keepAlive === false) {
    if (rawUserTimeout !== undefined)
      userTimeoutMs = checkUserTimeout(rawUserTimeout, 'options.userTimeoutMs');
  } else {
    settings = checkSettings(keepAlive, 'options.keepAlive', {
      value: rawUserTimeout,
      name: 'options.userTimeoutMs',
    });
    userTimeoutMs = settings.userTimeoutMs;
  }
  signal?.throwIfAborted();

  // A throw from retryOn or onReport (or from then() of what they return) ends the connect with
  // it; a promise they return that rejects later has no caller left and goes to the error channel.
  let calling = false;
  let userError: { error: unknown } | undefined;
  const sink = (error: unknown) => {
    if (calling) userError = { error };
    else reportOnly(error);
  };
  const call = <A extends unknown[], R>(f: (...args: A) => R, args: A): R | undefined => {
    userError = undefined;
    calling = true;
    const result = callUser(f, args, sink);
    calling = false;
    const failed = userError as { error: unknown } | undefined; // set by sink during the call
    if (failed) throw failed.error;
    return result;
  };
  const decide = (err: unknown): boolean => truthy(call(retryOn, [err]));

  // One switch ends everything: the caller's abort, the overall deadline, or a failure. Only one
  // attempt is ever in flight, so a single handler slot serves (no EventTarget per connect).
  let ended = false;
  let endReason: unknown;
  let onEnd: ((reason: unknown) => void) | undefined;
  let retrying: AbortController | undefined; // made only if the retry loop starts
  const end = (reason: unknown) => {
    if (ended) return;
    ended = true;
    endReason = reason;
    retrying?.abort(reason);
    onEnd?.(reason);
  };
  const onCallerAbort = () => end(signal!.reason);
  signal?.addEventListener('abort', onCallerAbort, { once: true });

  const attempt = (n: number) =>
    new Promise<Socket>((resolve, reject) => {
      if (ended) {
        reject(endReason);
        return;
      }
      const socket = tlsOption
        ? tls.connect({
            ...socketOptions,
            ...(typeof tlsOption === 'object' ? tlsOption : {}),
            host,
            port,
          })
        : net.connect({ ...socketOptions, host, port });
      const event = tlsOption ? 'secureConnect' : 'connect';
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        socket.removeListener(event, onConnect);
        socket.removeListener('error', fail);
        socket.removeListener('close', onClose);
        onEnd = undefined;
      };
      const fail = (err: unknown) => {
        finish();
        socket.destroy();
        reject(err);
      };
      const onClose = () => fail(new ConnectClosedError(host, port, n));
      const onConnect = () => {
        finish();
        resolve(socket);
      };
      if (attemptTimeoutMs !== undefined) {
        timer = setTimeout(
          () => fail(new ConnectTimeoutError(host, port, attemptTimeoutMs, n)),
          attemptTimeoutMs,
        );
        timer.unref(); // the socket in flight keeps the process alive, not this timer
      }
      socket.once(event, onConnect);
      socket.once('error', fail);
      socket.once('close', onClose);
      onEnd = fail;
    });

  // The overall deadline: one timer that ends everything.
  const deadline =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => end(new ConnectTimeoutError(host, port, timeoutMs, undefined)), timeoutMs);
  deadline?.unref(); // an attempt in flight, or a backoff timer, keeps the process alive
  let socket: Socket;
  try {
    // The first attempt runs directly; the retry machinery starts only after a retryable failure.
    socket = await attempt(1).catch((err: unknown) => {
      if (ended || r.retries === 0 || !decide(err)) throw err;
      retrying = new AbortController();
      return pRetry((n) => (n === 1 ? Promise.reject(err) : attempt(n)), {
        retries: r.retries,
        factor: r.factor,
        minTimeout: r.minDelayMs,
        maxTimeout: r.maxDelayMs,
        randomize: r.randomize,
        shouldRetry: ({ error }) => decide(error),
        signal: retrying.signal,
      });
    });
  } catch (err) {
    const reason = ended ? endReason : err;
    end(reason); // stops the retry loop and destroys the attempt in flight
    throw reason;
  } finally {
    clearTimeout(deadline);
    signal?.removeEventListener('abort', onCallerAbort);
  }
  try {
    if (noDelay !== undefined) socket.setNoDelay(noDelay);
    if (settings || userTimeoutMs > 0) {
      const requested: Partial<KeepAliveSettings> = settings
        ? { ...keepAlive, ...(rawUserTimeout === undefined ? {} : { userTimeoutMs }) }
        : { userTimeoutMs };
      const report = applySettings(socket, settings, userTimeoutMs, requested, strict);
      if (onReport) call(onReport, [report]);
    }
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return socket;
}
