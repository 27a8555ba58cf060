import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { checkOptions, count, describe, fraction, MAX_TIMER_MS, ms } from '@halfopen/internal';
import { connect, DEFAULT_KEEPALIVE, type KeepAliveSettings } from '@halfopen/keepalive';

/** How every integration dials and guards its sockets. */
export interface DialOptions {
  /** One deadline for DNS and the TCP (and TLS) handshake, 1..2^31-1 ms. Default 10000. */
  connectTimeoutMs?: number;
  /** TCP keepalive on each socket (`true`: these defaults), or false. Default: idle 15 s, interval 5 s, count 3 (a dead peer is noticed within 30 s). */
  keepAlive?: KeepAliveSettings | boolean;
  /** TCP_USER_TIMEOUT in ms (0 = system default). Default with keepalive on: its detection time (30 s). */
  userTimeoutMs?: number;
  /** Destroy a socket whose unsent bytes make no progress for this long while in use, ms. 0 = off. Default 30000. */
  writeStallMs?: number;
  /** Retire sockets older than this, ms (a busy one when it is next free). 0 = off. Default 0. */
  maxAgeMs?: number;
  /** Fraction (0..1) of `maxAgeMs` taken off at random per socket, so a fleet does not reconnect at once. Default 0.2. */
  maxAgeJitter?: number;
}

export const DIAL_KEYS = [
  'connectTimeoutMs',
  'keepAlive',
  'userTimeoutMs',
  'writeStallMs',
  'maxAgeMs',
  'maxAgeJitter',
] as const;

export interface Dial {
  connectTimeoutMs: number;
  keepAlive: KeepAliveSettings | false;
  userTimeoutMs: number | undefined;
  writeStallMs: number;
  maxAgeMs: number;
  maxAgeJitter: number;
}

const off = { default: 0, zeroOff: true } as const;

/** Checks the dial options; a bad one throws a TypeError/RangeError naming it. */
export function checkDial(o: DialOptions): Dial {
  checkKeepAlive(o.keepAlive, o.userTimeoutMs);
  return {
    connectTimeoutMs: ms(o.connectTimeoutMs, 'options.connectTimeoutMs', {
      default: 10_000,
      min: 1,
      max: MAX_TIMER_MS,
    }),
    // true (what Node's http.Agent takes) means the defaults.
    keepAlive: o.keepAlive === undefined || o.keepAlive === true ? DEFAULT_KEEPALIVE : o.keepAlive,
    userTimeoutMs: o.userTimeoutMs,
    writeStallMs: ms(o.writeStallMs, 'options.writeStallMs', { default: 30_000, zeroOff: true }),
    maxAgeMs: ms(o.maxAgeMs, 'options.maxAgeMs', off),
    maxAgeJitter: fraction(o.maxAgeJitter, 'options.maxAgeJitter', { default: 0.2 }),
  };
}

/** Connects through @halfopen/keepalive with the dial settings (no retries: the client decides). */
export function dial(
  d: Dial,
  target: { host: string; port: number; localAddress?: string; family?: number },
  tlsOptions: tls.ConnectionOptions | undefined,
  signal?: AbortSignal,
): Promise<net.Socket | tls.TLSSocket> {
  return connect({
    host: target.host,
    port: target.port,
    ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    ...(target.family ? { family: target.family } : {}),
    ...(tlsOptions ? { tls: tlsOptions } : {}),
    timeoutMs: d.connectTimeoutMs,
    retries: 0,
    keepAlive: d.keepAlive,
    ...(d.userTimeoutMs === undefined ? {} : { userTimeoutMs: d.userTimeoutMs }),
    noDelay: true,
    ...(signal ? { signal } : {}),
  });
}

const KEEPALIVE_KEYS = ['idleMs', 'intervalMs', 'count', 'userTimeoutMs'] as const;
const MAX_KEEPALIVE_MS = 32_767_000;

/** Checks keepAlive/userTimeoutMs at construction (keepalive's connect checks them again per dial, asynchronously). */
function checkKeepAlive(v: unknown, userTimeoutMs: unknown): void {
  if (userTimeoutMs !== undefined) ms(userTimeoutMs, 'options.userTimeoutMs', { default: 0 });
  if (v === undefined || v === false || v === true) return;
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new TypeError(
      `options.keepAlive must be a boolean or { idleMs, intervalMs, count }, got ${describe(v)}`,
    );
  const k = checkOptions(v as KeepAliveSettings, KEEPALIVE_KEYS, 'options.keepAlive');
  const range = { min: 1000, max: MAX_KEEPALIVE_MS };
  ms(k.idleMs, 'options.keepAlive.idleMs', range);
  ms(k.intervalMs, 'options.keepAlive.intervalMs', range);
  count(k.count, 'options.keepAlive.count', { min: 1, max: 127 });
  if (k.userTimeoutMs !== undefined) {
    if (userTimeoutMs !== undefined)
      throw new TypeError(
        'options.userTimeoutMs and options.keepAlive.userTimeoutMs are both given; give one of them',
      );
    ms(k.userTimeoutMs, 'options.keepAlive.userTimeoutMs', { default: 0 });
  }
}
