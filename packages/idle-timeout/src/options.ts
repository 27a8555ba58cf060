import { readFileSync } from 'node:fs';
import type * as net from 'node:net';
import {
  bytes,
  callUser,
  checkOptions,
  describe,
  fn,
  fraction,
  ms,
  rate,
} from '@halfopen/internal';
import type { TimeoutInfo } from './errors.js';

/** What `onTimeout` may decide: destroy the socket (the default) or let it live and re-arm. */
export type TimeoutAction = 'destroy' | 'ignore';

export interface GuardOptions {
  /** Destroy when no byte arrives within this many ms of guarding. Default: off. */
  firstByteMs?: number;
  /**
   * Destroy when no byte (or, with `minReadBytesPerSec`, too few bytes) arrives for this many ms
   * while the socket is reading. Time during which reading is paused does not count. Default: off.
   */
  readIdleMs?: number;
  /** With `readIdleMs`: the slowest receive rate tolerated, bytes/s (cuts tricklers). Default: 0 (any byte). */
  minReadBytesPerSec?: number;
  /** Destroy when reading stays paused (`pause()`, backpressure) longer than this. Default: off. */
  pausedMaxMs?: number;
  /**
   * Destroy when bytes wait to be sent and drain progress stays below `minDrainBytesPerSec` for
   * this window. Where the kernel's TCP_INFO is readable, progress is bytes the peer
   * acknowledged; elsewhere the window is stretched by one kernel wake-up burst when a rate is
   * set (see the README). Default: off.
   */
  writeStallMs?: number;
  /** With `writeStallMs`: the slowest drain rate tolerated, bytes/s. Default: 0 (any progress). */
  minDrainBytesPerSec?: number;
  /**
   * Kernel send buffer the write-stall window allows for where progress is Node's view only.
   * Default: tcp_wmem's maximum, else 4 MiB.
   */
  sendBufferBytes?: number;
  /** Destroy when the peer sent FIN and the socket is still open after this. Default: off. */
  halfClosedMs?: number;
  /** Destroy connections older than this. Default: off. */
  maxAgeMs?: number;
  /** Fraction (0..1) of `maxAgeMs` taken off at random per socket, so a fleet does not reconnect at once. Default: 0. */
  maxAgeJitter?: number;
  /** How often deadlines are checked; a deadline passes within one resolution after its limit. Default: the smallest deadline / 10, within 10..1000 ms. */
  resolutionMs?: number;
  /**
   * Called for every deadline that passed: the one way to observe timeouts per guard, and the
   * decider. Returning `'ignore'` re-arms that deadline from now; anything else (including
   * `undefined`, a throw or a promise) destroys. Default: always destroy.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: an observer that returns nothing is the common case
  onTimeout?: (info: TimeoutInfo, socket: net.Socket) => TimeoutAction | undefined | void;
  /** Clock in ms (monotonic). Default: `performance.now`. */
  now?: () => number;
  /** Random source for `maxAgeJitter`, in [0, 1). Default: `Math.random`. */
  random?: () => number;
}

/** Validated options, shared by every socket guarded with the same options. */
export interface Policy {
  firstByteMs: number;
  readIdleMs: number;
  minReadBytes: number;
  pausedMaxMs: number;
  writeStallMs: number;
  /** Node-view write-stall window: writeStallMs plus one kernel burst period at the minimum rate. */
  writeWindowMs: number;
  minWriteBytes: number;
  halfClosedMs: number;
  maxAgeMs: number;
  maxAgeJitter: number;
  resolutionMs: number;
  onTimeout: GuardOptions['onTimeout'];
  now: () => number;
  random: () => number;
}

const defaultNow = () => performance.now();

let tcpWmemMax: number | undefined;
/** The kernel's maximum autotuned send buffer (tcp_wmem's third field), read once. */
export function defaultSendBufferBytes(): number {
  if (tcpWmemMax === undefined) {
    try {
      tcpWmemMax = Number(
        readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2],
      );
    } catch {
      tcpWmemMax = Number.NaN;
    }
    if (!(tcpWmemMax > 0)) tcpWmemMax = 4 * 1024 * 1024;
  }
  return tcpWmemMax;
}

export const OPTION_KEYS = [
  'firstByteMs',
  'readIdleMs',
  'minReadBytesPerSec',
  'pausedMaxMs',
  'writeStallMs',
  'minDrainBytesPerSec',
  'sendBufferBytes',
  'halfClosedMs',
  'maxAgeMs',
  'maxAgeJitter',
  'resolutionMs',
  'onTimeout',
  'now',
  'random',
] as const satisfies ReadonlyArray<keyof GuardOptions>;

// Guarding many sockets with one options object shares one validated policy; a changed
// option (same object, new value, or a key added) makes a new one.
const cache = new WeakMap<GuardOptions, { values: unknown[]; keys: number; policy: Policy }>();

/** Validates options into a policy, reusing the last one made from this object if unchanged. */
export function toPolicy(options: GuardOptions | undefined): Policy {
  if (options === null || typeof options !== 'object') return makePolicy(options);
  const hit = cache.get(options);
  if (
    hit &&
    OPTION_KEYS.every((k, i) => options[k] === hit.values[i]) &&
    Object.keys(options).length === hit.keys
  ) {
    return hit.policy;
  }
  const policy = makePolicy(options);
  cache.set(options, {
    values: OPTION_KEYS.map((k) => options[k]),
    keys: Object.keys(options).length,
    policy,
  });
  return policy;
}

const off = { default: 0, zeroOff: true } as const;

function makePolicy(input: GuardOptions | undefined): Policy {
  const options = checkOptions(input, OPTION_KEYS, 'options');
  const firstByteMs = ms(options.firstByteMs, 'options.firstByteMs', off);
  const readIdleMs = ms(options.readIdleMs, 'options.readIdleMs', off);
  const minReadBytesPerSec = rate(options.minReadBytesPerSec, 'options.minReadBytesPerSec', {
    default: 0,
  });
  const pausedMaxMs = ms(options.pausedMaxMs, 'options.pausedMaxMs', off);
  const writeStallMs = ms(options.writeStallMs, 'options.writeStallMs', off);
  const minDrainBytesPerSec = rate(options.minDrainBytesPerSec, 'options.minDrainBytesPerSec', {
    default: 0,
  });
  const halfClosedMs = ms(options.halfClosedMs, 'options.halfClosedMs', off);
  const maxAgeMs = ms(options.maxAgeMs, 'options.maxAgeMs', off);
  const maxAgeJitter = fraction(options.maxAgeJitter, 'options.maxAgeJitter', { default: 0 });
  if (minReadBytesPerSec > 0 && readIdleMs === 0) {
    throw new RangeError(
      'options.minReadBytesPerSec needs options.readIdleMs (the window it is measured over)',
    );
  }
  if (minDrainBytesPerSec > 0 && writeStallMs === 0) {
    throw new RangeError(
      'options.minDrainBytesPerSec needs options.writeStallMs (the window it is measured over)',
    );
  }
  const sendBufferBytes =
    options.sendBufferBytes !== undefined
      ? bytes(options.sendBufferBytes, 'options.sendBufferBytes', { min: 1 })
      : minDrainBytesPerSec > 0
        ? defaultSendBufferBytes()
        : 0;
  const onTimeout = fn(options.onTimeout, 'options.onTimeout');
  const now = fn(options.now, 'options.now') ?? defaultNow;
  const random = fn(options.random, 'options.random') ?? Math.random;
  checkClock(now);
  // Where progress is Node's view, a writer blocked on a full send buffer is woken when about
  // a third of it is free, so progress arrives in bursts; half the buffer per burst, at the
  // minimum rate, is the longest a healthy reader can show none. That window grows by that
  // much (capped: it is checked on the wheel, never handed to a timer).
  const burstMs =
    minDrainBytesPerSec > 0 ? ((sendBufferBytes / 2) * 1000) / minDrainBytesPerSec : 0;
  const deadlines = [
    firstByteMs,
    readIdleMs,
    pausedMaxMs,
    writeStallMs,
    halfClosedMs,
    maxAgeMs,
  ].filter((d) => d > 0);
  const resolutionMs =
    options.resolutionMs === undefined
      ? Math.min(1000, Math.max(10, Math.floor(Math.min(...deadlines, 10_000) / 10)))
      : ms(options.resolutionMs, 'options.resolutionMs', { min: 1, integer: true });
  return {
    firstByteMs,
    readIdleMs,
    minReadBytes: Math.max(1, Math.ceil((minReadBytesPerSec * readIdleMs) / 1000)),
    pausedMaxMs,
    writeStallMs,
    writeWindowMs: writeStallMs > 0 ? Math.min(writeStallMs + burstMs, Number.MAX_SAFE_INTEGER) : 0,
    minWriteBytes: Math.max(1, Math.ceil((minDrainBytesPerSec * writeStallMs) / 1000)),
    halfClosedMs,
    maxAgeMs,
    maxAgeJitter,
    resolutionMs,
    onTimeout,
    now,
    random,
  };
}

/** A clock must answer with a finite number before anything is armed on it. */
function checkClock(now: () => number): void {
  let threw: { error: unknown } | undefined;
  const t: unknown = callUser(now, [], (error) => {
    threw ??= { error };
  });
  if (threw) throw new TypeError('options.now threw when called', { cause: threw.error });
  if (typeof t !== 'number' || !Number.isFinite(t)) {
    throw new TypeError(`options.now must return a finite number of ms, got ${describe(t)}`);
  }
}
