import net from 'node:net';
import tls from 'node:tls';
import pRetry from 'p-retry';
import { ConnectTimeoutError } from './errors.js';
import {
  checkSettings,
  type KeepAliveReport,
  type KeepAliveSettings,
  setKeepAlive,
} from './keepalive.js';

export interface RetryOptions {
  /** Retries after the first attempt. Default 2. */
  retries?: number;
  /** Backoff growth per retry. Default 2. */
  factor?: number;
  /** First backoff, ms. Default 100. */
  minTimeout?: number;
  /** Longest backoff, ms. Default 2000. */
  maxTimeout?: number;
  /** Jitter the backoff (x1..2). Default true. */
  randomize?: boolean;
}

export type ConnectOptions = Omit<
  net.TcpNetConnectOpts,
  'timeout' | 'keepAlive' | 'keepAliveInitialDelay' | 'signal'
> & {
  port: number;
  host?: string;
  /** Connect with TLS: true, or tls.connect options (servername, ca, ...). Default: plain TCP. */
  tls?: boolean | tls.ConnectionOptions;
  /** One deadline for everything: DNS, every attempt, every backoff (one timer). Default: none. */
  timeoutMs?: number;
  /** Deadline per attempt; an attempt that does not finish its handshake is destroyed. Default: none. */
  attemptTimeoutMs?: number;
  /** Retries (a count, or p-retry-style options). Default: 2 retries, 100..2000 ms jittered backoff. */
  retries?: number | RetryOptions;
  /** Which failures are worth another attempt. Default: refused, unreachable, reset, attempt timed out, DNS EAI_AGAIN. */
  retryOn?: (err: unknown) => boolean;
  /** Keepalive settings applied once connected, or false. Default: idle 15 s, interval 5 s, count 3 (dead peer noticed within 30 s). */
  keepAlive?: KeepAliveSettings | false;
  /** TCP_USER_TIMEOUT in ms. Default with keepalive on: its detection time. */
  userTimeoutMs?: number;
  /** Disable Nagle. Default: Node's (off). */
  noDelay?: boolean;
  /** Throw (and close the socket) if a keepalive setting cannot be applied here. Default false: report it. */
  strict?: boolean;
  /** Receives the keepalive report of the connected socket. */
  onReport?: (report: KeepAliveReport) => void;
  signal?: AbortSignal;
};

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

function positiveMs(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new TypeError(
      `options.${name} must be a number of milliseconds, got ${typeof v === 'string' ? `"${v}"` : String(v)}`,
    );
  if (!(v > 0) || !Number.isFinite(v))
    throw new RangeError(`options.${name} must be a finite number > 0, got ${v}`);
  return v;
}

/**
 * Connects with every wait bounded: an overall deadline, a deadline per attempt, retries with
 * jittered backoff; then turns on keepalive (idle/interval/count) and TCP_USER_TIMEOUT and reads
 * them back. Aborting, or running out of time, destroys the attempt in flight and clears every timer.
 */
export async function connect(options: ConnectOptions): Promise<net.Socket | tls.TLSSocket> {
  if (options === null || typeof options !== 'object')
    throw new TypeError('connect(options): options must be an object with a port');
  const {
    tls: tlsOption,
    timeoutMs: rawTimeout,
    attemptTimeoutMs: rawAttempt,
    retries: rawRetries,
    retryOn = isRetryableConnectError,
    keepAlive = DEFAULT_KEEPALIVE,
    userTimeoutMs,
    noDelay,
    strict = false,
    onReport,
    signal,
    ...socketOptions
  } = options;
  const port = options.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new RangeError(`options.port must be an integer within 0..65535, got ${String(port)}`);
  const host = options.host ?? 'localhost';
  const timeoutMs = positiveMs(rawTimeout, 'timeoutMs');
  const attemptTimeoutMs = positiveMs(rawAttempt, 'attemptTimeoutMs');
  const r: RetryOptions =
    typeof rawRetries === 'number' ? { retries: rawRetries } : (rawRetries ?? {});
  if (r.retries !== undefined && (!Number.isInteger(r.retries) || r.retries < 0)) {
    throw new RangeError(`options.retries must be an integer >= 0, got ${String(r.retries)}`);
  }
  if (typeof retryOn !== 'function') throw new TypeError('options.retryOn must be a function');
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new TypeError('options.signal must be an AbortSignal');
  const settings =
    keepAlive === false
      ? undefined
      : checkSettings(
          { ...keepAlive, ...(userTimeoutMs !== undefined ? { userTimeoutMs } : {}) },
          'options.keepAlive',
        );
  signal?.throwIfAborted();

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
    new Promise<net.Socket>((resolve, reject) => {
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
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        socket.removeListener(tlsOption ? 'secureConnect' : 'connect', onConnect);
        socket.removeListener('error', fail);
        onEnd = undefined;
      };
      const fail = (err: unknown) => {
        finish();
        socket.destroy();
        reject(err);
      };
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
      socket.once(tlsOption ? 'secureConnect' : 'connect', onConnect);
      socket.once('error', fail);
      onEnd = fail;
    });

  // The overall deadline: one timer that ends everything.
  const deadline =
    timeoutMs === undefined
      ? undefined
      : setTimeout(() => end(new ConnectTimeoutError(host, port, timeoutMs, undefined)), timeoutMs);
  deadline?.unref(); // an attempt in flight, or a backoff timer, keeps the process alive
  let socket: net.Socket;
  try {
    // The first attempt runs directly; the retry machinery starts only after a retryable failure.
    socket = await attempt(1).catch((err: unknown) => {
      if (ended || !retryOn(err) || (r.retries ?? 2) === 0) throw err;
      retrying = new AbortController();
      return pRetry((n) => (n === 1 ? Promise.reject(err) : attempt(n)), {
        retries: r.retries ?? 2,
        factor: r.factor ?? 2,
        minTimeout: r.minTimeout ?? 100,
        maxTimeout: r.maxTimeout ?? 2000,
        randomize: r.randomize ?? true,
        shouldRetry: ({ error }) => retryOn(error),
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
    if (settings) {
      const report = setKeepAlive(socket, settings, { strict });
      onReport?.(report);
    }
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return socket;
}
