import { readFileSync } from 'node:fs';
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
  /** With `readIdleMs`: the slowest receive rate tolerated (cuts tricklers). Default: 0 (any byte). */
  minReadBytesPerSec?: number;
  /** Destroy when reading stays paused (backpressure, `pause()`) longer than this. Default: off. */
  pausedMaxMs?: number;
  /**
   * Destroy when bytes wait to be sent and drain progress stays below `minDrainBytesPerSec` for
   * this window (stretched by one kernel wake-up burst when a rate is set). Default: off.
   */
  writeStallMs?: number;
  /** With `writeStallMs`: the slowest drain rate tolerated. Default: 0 (any progress). */
  minDrainBytesPerSec?: number;
  /** Kernel send buffer the write-stall window allows for. Default: tcp_wmem's maximum, else 4 MiB. */
  sendBufferBytes?: number;
  /** Destroy when the peer sent FIN and the socket is still open after this. Default: off. */
  halfClosedMs?: number;
  /** Destroy connections older than this. Default: off. */
  maxAgeMs?: number;
  /** Fraction (0..1) of `maxAgeMs` taken off at random per socket, so a fleet does not reconnect at once. Default: 0. */
  maxAgeJitter?: number;
  /** How often deadlines are checked; a deadline passes within one resolution after its limit. Default: the smallest deadline / 10, within 10..1000 ms. */
  resolutionMs?: number;
  /** Decides per timeout; `'ignore'` re-arms that deadline from now. Default: always `'destroy'`. */
  onTimeout?: (info: TimeoutInfo) => TimeoutAction;
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
  /** Effective write-stall window: writeStallMs plus one kernel burst period at the minimum rate. */
  writeWindowMs: number;
  minWriteBytes: number;
  halfClosedMs: number;
  maxAgeMs: number;
  maxAgeJitter: number;
  resolutionMs: number;
  onTimeout: ((info: TimeoutInfo) => TimeoutAction) | undefined;
  now: () => number;
  random: () => number;
}

const defaultNow = () => performance.now();

function ms(options: GuardOptions, name: keyof GuardOptions): number {
  const v = options[name];
  if (v === undefined) return 0;
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw new TypeError(`options.${name} must be a number of milliseconds, got ${describe(v)}`);
  }
  if (v < 0 || !Number.isFinite(v)) {
    throw new RangeError(`options.${name} must be a finite number >= 0 (0 = off), got ${v}`);
  }
  return v;
}

function describe(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : typeof v === 'number' ? String(v) : typeof v;
}

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

const OPTION_KEYS = [
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
// option (same object, new value) makes a new one.
const cache = new WeakMap<GuardOptions, { values: unknown[]; policy: Policy }>();

/** Validates options into a policy, reusing the last one made from this object if unchanged. */
export function toPolicy(options: GuardOptions | undefined): Policy {
  if (options === null || typeof options !== 'object') return makePolicy(options);
  const hit = cache.get(options);
  if (hit && OPTION_KEYS.every((k, i) => options[k] === hit.values[i])) return hit.policy;
  const policy = makePolicy(options);
  cache.set(options, { values: OPTION_KEYS.map((k) => options[k]), policy });
  return policy;
}

function makePolicy(options: GuardOptions | undefined): Policy {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(
      `options must be an object, got ${options === null ? 'null' : typeof options}`,
    );
  }
  const firstByteMs = ms(options, 'firstByteMs');
  const readIdleMs = ms(options, 'readIdleMs');
  const minReadBytesPerSec = ms(options, 'minReadBytesPerSec');
  const pausedMaxMs = ms(options, 'pausedMaxMs');
  const writeStallMs = ms(options, 'writeStallMs');
  const minDrainBytesPerSec = ms(options, 'minDrainBytesPerSec');
  const halfClosedMs = ms(options, 'halfClosedMs');
  const maxAgeMs = ms(options, 'maxAgeMs');
  const maxAgeJitter = ms(options, 'maxAgeJitter');
  if (maxAgeJitter > 1)
    throw new RangeError(`options.maxAgeJitter must be within 0..1, got ${maxAgeJitter}`);
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
  let sendBufferBytes = 0;
  if (options.sendBufferBytes !== undefined) {
    sendBufferBytes = ms(options, 'sendBufferBytes');
    if (sendBufferBytes === 0) throw new RangeError('options.sendBufferBytes must be > 0');
  } else if (minDrainBytesPerSec > 0) {
    sendBufferBytes = defaultSendBufferBytes();
  }
  for (const name of ['onTimeout', 'now', 'random'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw new TypeError(`options.${name} must be a function, got ${describe(options[name])}`);
    }
  }
  // A writer blocked on a full send buffer is woken when about a third of it is free, so
  // progress arrives in bursts; half the buffer per burst, at the minimum rate, is the
  // longest a healthy reader can show none. The window grows by that much.
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
  let resolutionMs = ms(options, 'resolutionMs');
  if (options.resolutionMs !== undefined && resolutionMs < 1) {
    throw new RangeError(`options.resolutionMs must be >= 1, got ${resolutionMs}`);
  }
  if (resolutionMs === 0) {
    resolutionMs = Math.min(1000, Math.max(10, Math.floor(Math.min(...deadlines, 10_000) / 10)));
  }
  return {
    firstByteMs,
    readIdleMs,
    minReadBytes: Math.max(1, Math.ceil((minReadBytesPerSec * readIdleMs) / 1000)),
    pausedMaxMs,
    writeWindowMs: writeStallMs > 0 ? writeStallMs + burstMs : 0,
    minWriteBytes: Math.max(1, Math.ceil((minDrainBytesPerSec * writeStallMs) / 1000)),
    halfClosedMs,
    maxAgeMs,
    maxAgeJitter,
    resolutionMs,
    onTimeout: options.onTimeout,
    now: options.now ?? defaultNow,
    random: options.random ?? Math.random,
  };
}
