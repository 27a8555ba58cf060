import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { guardSocket, type TimeoutInfo } from '@halfopen/idle-timeout';
import { checkOptions, describe, publish } from '@halfopen/internal';
import { channels } from './diagnostics.js';
import { checkDial, DIAL_KEYS, type DialOptions, dial } from './dial.js';

/** Options of `undiciConnector`. */
export interface UndiciConnectorOptions extends DialOptions {
  /** TLS options for every https connection (ca, cert, key, rejectUnauthorized, ...); `servername` comes from undici per origin. Default: none. */
  tls?: tls.ConnectionOptions;
}

/** What undici hands its `connect` function (undici 7 and 8). */
export interface UndiciConnectOptions {
  hostname: string;
  host?: string;
  protocol: string;
  port: string | number;
  servername?: string | null;
  localAddress?: string | null;
  httpSocket?: net.Socket;
}

/** Counters since the connector was made. */
export interface UndiciConnectorStats {
  /** Sockets dialed. */
  created: number;
  /** Dials that failed (timeout, refused, TLS). */
  connectFailed: number;
  /** Sockets destroyed by `writeStallMs`. */
  cutWriteStall: number;
  /** Requests sent again by the `retry` options (see `retry`). */
  retried: number;
  /** Sockets open now. */
  open: number;
}

type Callback = (...args: [null, net.Socket | tls.TLSSocket] | [Error, null]) => void;

/** The connector: pass it as undici's `connect`; `stats()` and `retry` come with it. */
export interface UndiciConnector {
  (options: UndiciConnectOptions, callback: Callback): void;
  stats(): UndiciConnectorStats;
  /**
   * Options for undici's `interceptors.retry`: a request on an idempotent method without a body
   * that failed with a reset or "other side closed" before a response is sent again at once (up
   * to 3 times: undici picks the socket, and may pick another one the server is closing),
   * and published on `halfopen:clients:retry`.
   */
  readonly retry: {
    maxRetries: number;
    minTimeout: number;
    statusCodes: number[];
    errorCodes: string[];
    methods: ('GET' | 'HEAD' | 'OPTIONS' | 'TRACE' | 'PUT' | 'DELETE')[];
    retry(
      err: Error,
      context: { state: { counter: number }; opts: unknown },
      cb: (err?: Error | null) => void,
    ): void;
  };
}

const KEYS = [...DIAL_KEYS, 'tls'] as const;
/** How many times undici may send a reset idempotent request again (each on whatever socket it picks). */
const RETRIES = 3;
const RESET_CODES = ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'];
const IDEMPOTENT: ('GET' | 'HEAD' | 'OPTIONS' | 'TRACE' | 'PUT' | 'DELETE')[] = [
  'GET',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PUT',
  'DELETE',
];

/**
 * A connector for undici's `Agent`, `Pool` or `Client` (`connect` option): dials through
 * @halfopen/keepalive (connect deadline, keepalive, TCP_USER_TIMEOUT), passes `servername`
 * and TLS options through, and guards each socket against write stalls. Read-idle and max age
 * are left to undici (`bodyTimeout`, `headersTimeout`, Pool's `clientTtl`): undici alone knows
 * whether a socket is in use.
 */
export function undiciConnector(options?: UndiciConnectorOptions): UndiciConnector {
  const o = checkOptions(options, KEYS, 'options');
  const d = checkDial({ ...o, maxAgeMs: 0 });
  if (o.maxAgeMs !== undefined && o.maxAgeMs !== 0)
    throw new RangeError(
      `options.maxAgeMs is not applied by the undici connector (undici alone knows when a socket is idle): use Pool's clientTtl, got ${describe(o.maxAgeMs)}`,
    );
  if (o.tls !== undefined && (o.tls === null || typeof o.tls !== 'object'))
    throw new TypeError(`options.tls must be tls.connect options, got ${describe(o.tls)}`);
  const stats: UndiciConnectorStats = {
    created: 0,
    connectFailed: 0,
    cutWriteStall: 0,
    retried: 0,
    open: 0,
  };
  const guard =
    d.writeStallMs > 0
      ? {
          writeStallMs: d.writeStallMs,
          onTimeout: (info: TimeoutInfo, socket: net.Socket) => {
            stats.cutWriteStall++;
            publish(channels.cut, {
              client: 'undici',
              reason: info.reason,
              remoteAddress: socket.remoteAddress,
              remotePort: socket.remotePort,
              info,
            });
            return 'destroy' as const;
          },
        }
      : undefined;
  const connect = ((opts: UndiciConnectOptions, callback: Callback) => {
    const isTls = opts.protocol === 'https:';
    if (opts.httpSocket) {
      callback(new TypeError('undiciConnector does not upgrade an existing socket to TLS'), null);
      return;
    }
    const host = opts.hostname.startsWith('[') ? opts.hostname.slice(1, -1) : opts.hostname;
    const port = Number(opts.port) || (isTls ? 443 : 80);
    const tlsOptions = isTls
      ? {
          ALPNProtocols: ['http/1.1'],
          ...o.tls,
          ...(opts.servername ? { servername: opts.servername } : {}),
        }
      : undefined;
    dial(
      d,
      { host, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) },
      tlsOptions,
    ).then(
      (socket) => {
        stats.created++;
        stats.open++;
        socket.once('close', () => {
          stats.open--;
        });
        if (guard) guardSocket(socket, guard);
        callback(null, socket);
      },
      (err: Error) => {
        stats.connectFailed++;
        publish(channels['connect-error'], { client: 'undici', host, port, error: err });
        callback(err, null);
      },
    );
  }) as UndiciConnector;
  connect.stats = () => ({ ...stats });
  // Up to 3 sends again: undici, not the connector, picks the socket for a retry, and it may
  // pick another pooled socket the server is closing at the same moment (a CI run lost one of
  // 300 requests with a single retry). Safe because only idempotent requests without a body
  // are retried, and only on a reset.
  const retry: UndiciConnector['retry'] = {
    maxRetries: RETRIES,
    minTimeout: 0,
    statusCodes: [],
    errorCodes: RESET_CODES,
    methods: IDEMPOTENT,
    retry(err, { state, opts }, cb) {
      const code = (err as { code?: string } | null)?.code ?? '';
      const o = opts as { method?: string; body?: unknown; origin?: unknown; path?: string };
      const safe =
        state.counter <= RETRIES &&
        RESET_CODES.includes(code) &&
        (IDEMPOTENT as string[]).includes(o.method ?? '') &&
        (o.body === undefined || o.body === null);
      publish(channels.retry, {
        client: 'undici',
        method: o.method,
        host: String(o.origin ?? ''),
        path: o.path,
        error: err,
        retried: safe,
      });
      if (!safe) {
        cb(err);
        return;
      }
      stats.retried++;
      cb();
    },
  };
  Object.defineProperty(connect, 'retry', { value: retry, enumerable: true });
  return connect;
}
