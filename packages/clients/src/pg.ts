import * as net from 'node:net';
import { guardSocket, type TimeoutInfo } from '@halfopen/idle-timeout';
import { checkOptions, publish } from '@halfopen/internal';
import { ConnectTimeoutError, setKeepAlive } from '@halfopen/keepalive';
import { setSockopts } from '@halfopen/sockopt';
import { channels } from './diagnostics.js';
import { checkDial, DIAL_KEYS, type DialOptions } from './dial.js';

/** Options of `pgStream` (the dial options; `maxAgeMs` retires a connection only between queries). */
export type PgStreamOptions = DialOptions;

/** Counters since the factory was made. */
export interface PgStreamStats {
  /** Sockets made for pg. */
  created: number;
  /** Connects that did not finish within `connectTimeoutMs`. */
  connectTimedOut: number;
  /** Connections that ended in an error (a dead peer, ETIMEDOUT from keepalive or TCP_USER_TIMEOUT, a reset). */
  failed: number;
  /** Sockets destroyed by `writeStallMs`. */
  cutWriteStall: number;
  /** Idle connections retired by `maxAgeMs` (never one with a query in flight). */
  cutMaxAge: number;
  /** Sockets open now. */
  open: number;
}

/** The factory: pass it as pg's `stream` option; `stats()` comes with it. */
export interface PgStreamFactory {
  (config?: unknown): net.Socket;
  stats(): PgStreamStats;
}

const kIdle = Symbol('halfopen.clients.pgIdle');
type PgSocket = net.Socket & { [kIdle]?: boolean; [kExpired]?: boolean };
const kExpired = Symbol('halfopen.clients.pgExpired');

/** Whether a chunk from the server ends with ReadyForQuery ('Z', length 5, status): the session is idle. */
function endsReady(chunk: Buffer): boolean {
  const n = chunk.length;
  return n >= 6 && chunk[n - 6] === 0x5a && chunk.readInt32BE(n - 5) === 5;
}

/**
 * A stream factory for `new pg.Pool({ stream })` / `new pg.Client({ stream })` (pg 8): each
 * connection gets a connect deadline, keepalive with idle, interval and count, TCP_USER_TIMEOUT
 * (a dead server is noticed in seconds, in flight or idle, instead of the kernel's 15 minutes or
 * 2 hours), a write-stall guard, and optionally a jittered max age that retires a connection
 * only while it is idle. pg's own `keepAlive` flag is superseded (its `setKeepAlive` call would
 * reset the idle time to its `keepAliveInitialDelayMillis`).
 */
export function pgStream(options?: PgStreamOptions): PgStreamFactory {
  const o = checkOptions(options, DIAL_KEYS, 'options');
  const d = checkDial(o);
  const stats: PgStreamStats = {
    created: 0,
    connectTimedOut: 0,
    failed: 0,
    cutWriteStall: 0,
    cutMaxAge: 0,
    open: 0,
  };
  const cut = (socket: net.Socket, reason: string, info?: TimeoutInfo) =>
    publish(channels.cut, {
      client: 'pg',
      reason,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      info,
    });
  const retire = (socket: PgSocket) => {
    stats.cutMaxAge++;
    cut(socket, 'max-age');
    socket.destroy();
  };
  const guard = {
    ...(d.writeStallMs > 0 ? { writeStallMs: d.writeStallMs } : {}),
    ...(d.maxAgeMs > 0 ? { maxAgeMs: d.maxAgeMs, maxAgeJitter: d.maxAgeJitter } : {}),
    onTimeout: (info: TimeoutInfo, socket: PgSocket): 'destroy' | 'ignore' => {
      if (info.reason === 'max-age') {
        if (socket[kIdle]) {
          retire(socket);
          return 'destroy';
        }
        socket[kExpired] = true; // retired at the next ReadyForQuery
        return 'ignore';
      }
      stats.cutWriteStall++;
      cut(socket, info.reason, info);
      return 'destroy';
    },
  };
  const guarded = d.writeStallMs > 0 || d.maxAgeMs > 0;
  const factory = ((config?: unknown) => {
    const socket = new net.Socket() as PgSocket;
    stats.created++;
    stats.open++;
    let timer: NodeJS.Timeout | undefined = setTimeout(() => {
      timer = undefined;
      stats.connectTimedOut++;
      publish(channels['connect-error'], { client: 'pg', limitMs: d.connectTimeoutMs });
      const c = config as { host?: unknown; port?: unknown } | undefined;
      socket.destroy(
        new ConnectTimeoutError(
          String(c?.host ?? 'localhost'),
          Number(c?.port ?? 5432),
          d.connectTimeoutMs,
          undefined,
        ),
      );
    }, d.connectTimeoutMs);
    timer.unref();
    const own = socket.setKeepAlive.bind(socket);
    socket.setKeepAlive = () => socket; // pg's call would undo the settings below
    socket.once('connect', () => {
      clearTimeout(timer);
      timer = undefined;
      // A Unix socket (pg's host '/var/run/postgresql') has no TCP options to set.
      if (typeof socket.remotePort !== 'number') return;
      try {
        if (d.keepAlive) {
          setKeepAlive(socket, {
            ...d.keepAlive,
            ...(d.userTimeoutMs === undefined ? {} : { userTimeoutMs: d.userTimeoutMs }),
          });
        } else {
          own(false);
          if (d.userTimeoutMs) setSockopts(socket, { userTimeoutMs: d.userTimeoutMs });
        }
      } catch (err) {
        socket.destroy(err as Error);
        return;
      }
      if (!guarded) return;
      if (d.maxAgeMs > 0) {
        const write = socket.write;
        socket.write = function (this: PgSocket, ...args: unknown[]) {
          this[kIdle] = false;
          return (write as (...a: unknown[]) => boolean).apply(this, args);
        } as typeof socket.write;
        // First, before pg's parser: a query it sends on ReadyForQuery marks the socket busy again.
        socket.prependListener('data', (chunk: Buffer) => {
          if (!Buffer.isBuffer(chunk) || !endsReady(chunk)) return;
          socket[kIdle] = true;
          if (socket[kExpired])
            setImmediate(() => socket[kIdle] && !socket.destroyed && retire(socket));
        });
      }
      guardSocket(socket, guard);
    });
    socket.once('error', () => {
      stats.failed++;
    });
    socket.once('close', () => {
      clearTimeout(timer);
      stats.open--;
    });
    return socket;
  }) as PgStreamFactory;
  factory.stats = () => ({ ...stats });
  return factory;
}
