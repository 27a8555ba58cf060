import { createRequire } from 'node:module';
import type net from 'node:net';
import { KeepAliveUnsupportedError } from './errors.js';

interface Native {
  set(
    fd: number,
    keepalive: number,
    idleSec: number,
    intervalSec: number,
    count: number,
    userTimeoutMs: number,
  ): void;
  get(fd: number): {
    keepalive: number;
    idle: number;
    interval: number;
    count: number;
    userTimeout: number;
  };
}

let native: Native | null | undefined;
let nativeError: string | undefined;
function loadNative(): Native | null {
  if (native === undefined) {
    try {
      native = createRequire(import.meta.url)('../build/Release/sockopt.node') as Native;
    } catch (err) {
      native = null;
      nativeError = (err as Error).message;
    }
  }
  return native;
}

/** Node 26.4+ takes `setKeepAlive({ enable, initialDelay, interval, count })`. */
function nodeHasFullKeepAlive(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 26 || (major === 26 && minor >= 4);
}

export interface KeepAliveSettings {
  /** Idle time before the first probe, in ms (whole seconds on Linux; at least 1000). */
  idleMs: number;
  /** Time between probes, in ms (whole seconds; at least 1000). */
  intervalMs: number;
  /** Unanswered probes before the connection is declared dead (1..127). */
  count: number;
  /**
   * How long sent data may stay unacknowledged before the connection is dropped (TCP_USER_TIMEOUT),
   * in ms. Covers what keepalive cannot: a peer that vanished while we had data in flight.
   * Default: the keepalive detection time (idle + interval x count). 0 leaves the system default.
   */
  userTimeoutMs?: number;
}

/** What was asked, what is in force (read back from the socket), and by which path. */
export interface KeepAliveReport {
  requested: KeepAliveSettings;
  /** Read back with getsockopt; undefined when the native part is unavailable. */
  applied:
    | {
        keepalive: boolean;
        idleMs: number;
        intervalMs: number;
        count: number;
        userTimeoutMs: number;
      }
    | undefined;
  /** How idle/interval/count were set: Node's own API (26.4+), the native part, or only idle through Node (`none`). */
  via: 'node' | 'native' | 'none';
  /** Worst case to notice an idle dead peer with what is in force (or what was asked, when unknown). */
  detectionTimeMs: number;
  /** Settings that could not be applied (and why). */
  unsupported: string[];
}

/** What this process can set. */
export function keepAliveSupport(): {
  interval: boolean;
  count: boolean;
  userTimeout: boolean;
  readBack: boolean;
  via: 'node' | 'native' | 'none';
  nativeError?: string;
} {
  const n = loadNative();
  const node = nodeHasFullKeepAlive();
  const via = node ? 'node' : n ? 'native' : 'none';
  const out: ReturnType<typeof keepAliveSupport> = {
    interval: node || !!n,
    count: node || !!n,
    userTimeout: !!n,
    readBack: !!n,
    via,
  };
  if (!n && nativeError) out.nativeError = nativeError;
  return out;
}

/** Worst-case time to notice a dead idle peer: idle + interval x count. */
export function detectionTimeMs(
  s: Pick<KeepAliveSettings, 'idleMs' | 'intervalMs' | 'count'>,
): number {
  return s.idleMs + s.intervalMs * s.count;
}

function wholeSeconds(v: unknown, name: string): number {
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new TypeError(
      `${name} must be a number of milliseconds, got ${typeof v === 'string' ? `"${v}"` : String(v)}`,
    );
  if (!Number.isFinite(v) || v < 1000) {
    throw new RangeError(
      `${name} must be at least 1000 ms (the kernel counts whole seconds; Node ignores less), got ${v}`,
    );
  }
  return Math.ceil(v / 1000);
}

/** Validates settings; throws naming the option. */
export function checkSettings(
  s: KeepAliveSettings,
  prefix = 'options',
): Required<KeepAliveSettings> {
  if (s === null || typeof s !== 'object')
    throw new TypeError(`${prefix} must be an object with idleMs, intervalMs and count`);
  const idle = wholeSeconds(s.idleMs, `${prefix}.idleMs`);
  const interval = wholeSeconds(s.intervalMs, `${prefix}.intervalMs`);
  if (typeof s.count !== 'number' || !Number.isInteger(s.count) || s.count < 1 || s.count > 127) {
    throw new RangeError(
      `${prefix}.count must be an integer within 1..127, got ${String(s.count)}`,
    );
  }
  const detection = detectionTimeMs({
    idleMs: idle * 1000,
    intervalMs: interval * 1000,
    count: s.count,
  });
  let userTimeoutMs = detection;
  if (s.userTimeoutMs !== undefined) {
    if (
      typeof s.userTimeoutMs !== 'number' ||
      !Number.isInteger(s.userTimeoutMs) ||
      s.userTimeoutMs < 0 ||
      s.userTimeoutMs > 2 ** 31 - 1
    ) {
      throw new RangeError(
        `${prefix}.userTimeoutMs must be an integer number of ms >= 0, got ${String(s.userTimeoutMs)}`,
      );
    }
    userTimeoutMs = s.userTimeoutMs;
  }
  return { idleMs: idle * 1000, intervalMs: interval * 1000, count: s.count, userTimeoutMs };
}

function fdOf(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Turns keepalive on with the given idle/interval/count and sets TCP_USER_TIMEOUT, on a
 * connected socket, then reads back what is in force. With `strict`, throws
 * KeepAliveUnsupportedError if anything could not be applied; otherwise reports it.
 */
export function setKeepAlive(
  socket: net.Socket,
  settings: KeepAliveSettings,
  { strict = false } = {},
): KeepAliveReport {
  if (!socket || typeof socket.setKeepAlive !== 'function')
    throw new TypeError('setKeepAlive(socket): socket must be a net.Socket or tls.TLSSocket');
  const s = checkSettings(settings);
  const unsupported: string[] = [];
  const n = loadNative();
  const fd = fdOf(socket);
  const userTimeout = s.userTimeoutMs > 0 ? s.userTimeoutMs : -1; // -1: leave the system default
  let via: KeepAliveReport['via'];
  if (nodeHasFullKeepAlive()) {
    (socket.setKeepAlive as unknown as (o: object) => void).call(socket, {
      enable: true,
      initialDelay: s.idleMs,
      interval: s.intervalMs,
      count: s.count,
    });
    via = 'node';
    if (n && fd !== undefined) n.set(fd, -1, -1, -1, -1, userTimeout);
  } else if (n && fd !== undefined) {
    // One native call: SO_KEEPALIVE, idle, interval, count and TCP_USER_TIMEOUT.
    n.set(fd, 1, s.idleMs / 1000, s.intervalMs / 1000, s.count, userTimeout);
    via = 'native';
  } else {
    socket.setKeepAlive(true, s.idleMs);
    via = 'none';
    unsupported.push(
      `intervalMs/count (${fd === undefined ? 'no file descriptor' : `no native part: ${nativeError}`}; libuv keeps 1 s x 10)`,
    );
  }
  if (userTimeout > 0 && (!n || fd === undefined)) {
    unsupported.push(
      'userTimeoutMs (TCP_USER_TIMEOUT has no Node API and the native part is unavailable)',
    );
  }
  let applied: KeepAliveReport['applied'];
  if (n && fd !== undefined) {
    const g = n.get(fd);
    applied = {
      keepalive: g.keepalive !== 0,
      idleMs: g.idle * 1000,
      intervalMs: g.interval * 1000,
      count: g.count,
      userTimeoutMs: g.userTimeout,
    };
  }
  const inForce =
    applied ?? (via === 'none' ? { idleMs: s.idleMs, intervalMs: 1000, count: 10 } : s);
  const report: KeepAliveReport = {
    requested: { ...settings },
    applied,
    via,
    detectionTimeMs: detectionTimeMs(inForce),
    unsupported,
  };
  if (strict && unsupported.length > 0) throw new KeepAliveUnsupportedError(unsupported);
  return report;
}

/** Applies the same settings to every socket `server` accepts; reports go to `onReport`. */
export function keepAliveServer(
  server: { on(event: 'connection', fn: (s: net.Socket) => void): unknown },
  settings: KeepAliveSettings,
  { onReport }: { onReport?: (report: KeepAliveReport, socket: net.Socket) => void } = {},
): void {
  checkSettings(settings);
  server.on('connection', (socket) => {
    try {
      const report = setKeepAlive(socket, settings);
      onReport?.(report, socket);
    } catch {
      // a socket that closed before it could be configured needs nothing
    }
  });
}
