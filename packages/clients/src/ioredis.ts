import * as net from 'node:net';
import { guardSocket, type TimeoutInfo } from '@halfopen/idle-timeout';
import { checkOptions, describe, publish } from '@halfopen/internal';
import { setKeepAlive } from '@halfopen/keepalive';
import { setSockopts } from '@halfopen/sockopt';
import { channels } from './diagnostics.js';
import { checkDial, type DialOptions } from './dial.js';

/** Options of `guardRedis`. */
export type GuardRedisOptions = Pick<DialOptions, 'keepAlive' | 'userTimeoutMs' | 'writeStallMs'>;

/** Counters since `guardRedis` was called. */
export interface GuardRedisStats {
  /** Connections (first and every reconnect) given the settings. */
  guarded: number;
  /** Connections on which a setting could not be applied (closed first, refused by the kernel). */
  failed: number;
  /** Connections destroyed by `writeStallMs`. */
  cutWriteStall: number;
  /** Connections that ended in an error (a dead peer: ETIMEDOUT from keepalive or TCP_USER_TIMEOUT; a reset). */
  errors: number;
}

/** What `guardRedis` returns. */
export interface RedisGuard {
  stats(): GuardRedisStats;
  /** Stops guarding new connections (the current one keeps its settings). */
  dispose(): void;
  [Symbol.dispose](): void;
}

/** The part of an ioredis client (5 or 6) this uses. */
export interface RedisLike {
  on(event: 'connect', fn: () => void): unknown;
  removeListener(event: 'connect', fn: () => void): unknown;
  readonly stream?: unknown;
}

const KEYS = ['keepAlive', 'userTimeoutMs', 'writeStallMs'] as const;

/**
 * Gives every connection of an ioredis client (the first and each reconnect, through its
 * 'connect' event) keepalive with idle, interval and count, TCP_USER_TIMEOUT and a write-stall
 * guard, so a vanished Redis is noticed in seconds and ioredis reconnects on its own. ioredis's
 * own `keepAlive` (an initial delay only) is superseded. Call it right after `new Redis(...)`.
 */
export function guardRedis(redis: RedisLike, options?: GuardRedisOptions): RedisGuard {
  if (!redis || typeof redis.on !== 'function' || typeof redis.removeListener !== 'function')
    throw new TypeError(
      `guardRedis(redis): redis must be an ioredis client, got ${describe(redis)}`,
    );
  const o = checkOptions(options, KEYS, 'options');
  const d = checkDial(o);
  const stats: GuardRedisStats = { guarded: 0, failed: 0, cutWriteStall: 0, errors: 0 };
  const guard =
    d.writeStallMs > 0
      ? {
          writeStallMs: d.writeStallMs,
          onTimeout: (info: TimeoutInfo, socket: net.Socket) => {
            stats.cutWriteStall++;
            publish(channels.cut, {
              client: 'ioredis',
              reason: info.reason,
              remoteAddress: socket.remoteAddress,
              remotePort: socket.remotePort,
              info,
            });
            return 'destroy' as const;
          },
        }
      : undefined;
  let last: net.Socket | undefined;
  const onConnect = () => {
    const socket = redis.stream;
    if (!(socket instanceof net.Socket) || socket === last) return;
    last = socket;
    if (typeof socket.remotePort !== 'number') return; // a Unix socket: no TCP options to set
    try {
      if (d.keepAlive) {
        setKeepAlive(socket, {
          ...d.keepAlive,
          ...(d.userTimeoutMs === undefined ? {} : { userTimeoutMs: d.userTimeoutMs }),
        });
      } else if (d.userTimeoutMs) {
        setSockopts(socket, { userTimeoutMs: d.userTimeoutMs });
      }
      if (guard) guardSocket(socket, guard);
      // Counted on the socket: a listener on the client would hide ioredis's unhandled-error warning.
      socket.once('error', () => {
        stats.errors++;
      });
      stats.guarded++;
    } catch (error) {
      stats.failed++;
      publish(channels['connect-error'], { client: 'ioredis', error });
    }
  };
  redis.on('connect', onConnect);
  const dispose = () => {
    redis.removeListener('connect', onConnect);
  };
  return { stats: () => ({ ...stats }), dispose, [Symbol.dispose]: dispose };
}
