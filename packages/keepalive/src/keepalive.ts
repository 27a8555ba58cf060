import net from 'node:net';
import type { Socket } from 'node:net';
import {
  bool,
  callUser,
  channels,
  checkOptions,
  count,
  describe,
  fn,
  MAX_TIMER_MS,
  ms,
  publish,
} from '@halfopen/internal';
import { KeepAliveFailedError, KeepAliveUnsupportedError } from './errors.js';
import { type Sockopts, setSockopts, support } from '@halfopen/sockopt';

/**
 * `halfopen:keepalive:degraded` ({ setting, reason }): a setting this process cannot apply, once
 * per setting per process. `halfopen:keepalive:error` ({ error, socket?, where }): a failure
 * with no caller to throw to (keepAliveServer, a callback's rejected promise).
 */
export const diagnostics = channels('keepalive', ['degraded', 'error']);

/** The kernel's range for TCP_KEEPIDLE and TCP_KEEPINTVL: 1..32767 whole seconds. */
const MAX_KEEPALIVE_MS = 32_767_000;
const SETTING_KEYS = ['idleMs', 'intervalMs', 'count', 'userTimeoutMs'] as const;

export interface KeepAliveSettings {
  /** Idle time before the first probe, in ms: 1000..32_767_000, rounded up to whole seconds. */
  idleMs: number;
  /** Time between probes, in ms: 1000..32_767_000, rounded up to whole seconds. */
  intervalMs: number;
  /** Unanswered probes before the connection is declared dead: 1..127. */
  count: number;
  /**
   * How long sent data may stay unacknowledged before the connection is dropped (TCP_USER_TIMEOUT),
   * in ms, 0..2_147_483_647 (rounded up to whole ms). Covers what keepalive cannot: a peer that
   * vanished while we had data in flight. Default: the keepalive detection time (idle + interval
   * x count), capped at 2_147_483_647 (the cap is reported in `adjusted`). 0 leaves the system default.
   */
  userTimeoutMs?: number;
}

/** What was asked, what is in force (read back from the socket), and by which path. */
export interface KeepAliveReport {
  /** As given (for `connect({ keepAlive: false, userTimeoutMs })`: only `userTimeoutMs`). */
  requested: Partial<KeepAliveSettings>;
  /** Read back from the socket; undefined where it cannot be read here (see `unsupported`). */
  applied: Sockopts | undefined;
  /**
   * How keepalive was set: `'native'` (one @halfopen/sockopt call sets and reads back everything),
   * `'node'` (Node's own `setKeepAlive({ enable, initialDelay, interval, count })`), `'none'`
   * (only the idle time, through Node), or `'off'` (keepalive off, only a user timeout asked).
   */
  via: 'native' | 'node' | 'none' | 'off';
  /** Worst case to notice an idle dead peer with what is in force (Infinity with keepalive off). */
  detectionTimeMs: number;
  /** Settings that could not be applied here, and why. */
  unsupported: string[];
  /** Values changed to fit the kernel: rounded up to whole seconds, a default capped. */
  adjusted: string[];
}

/** Settings after the checks: what will be asked of the kernel. */
export interface CheckedSettings {
  idleMs: number;
  intervalMs: number;
  count: number;
  /** 0: leave the system default. */
  userTimeoutMs: number;
  adjusted: string[];
}

/** Worst-case time to notice a dead idle peer: idle + interval x count. */
export function detectionTimeMs(
  s: Pick<KeepAliveSettings, 'idleMs' | 'intervalMs' | 'count'>,
): number {
  return s.idleMs + s.intervalMs * s.count;
}

function seconds(v: unknown, name: string, adjusted: string[]): number {
  const n = ms(v, name, { min: 1000, max: MAX_KEEPALIVE_MS });
  const whole = Math.ceil(n / 1000) * 1000;
  if (whole !== n) adjusted.push(`${name} ${n} rounded up to ${whole} (whole seconds)`);
  return whole;
}

/** A TCP_USER_TIMEOUT as the user wrote it, named as they wrote it; 0 = system default. */
export function checkUserTimeout(v: unknown, name: string): number {
  return ms(v, name, { max: MAX_TIMER_MS, integer: true });
}

/**
 * Checks settings before any side effect; throws a TypeError/RangeError naming the option
 * (`<prefix>.idleMs`, ...). `userTimeoutName` is where the user wrote a user timeout given
 * outside the settings object (connect's `options.userTimeoutMs`).
 */
export function checkSettings(
  s: unknown,
  prefix = 'options',
  userTimeout?: { value: unknown; name: string },
): CheckedSettings {
  if (s === null || typeof s !== 'object' || Array.isArray(s))
    throw new TypeError(
      `${prefix} must be an object with idleMs, intervalMs and count, got ${describe(s)}`,
    );
  const o = checkOptions(s as KeepAliveSettings, SETTING_KEYS, prefix);
  const adjusted: string[] = [];
  const idleMs = seconds(o.idleMs, `${prefix}.idleMs`, adjusted);
  const intervalMs = seconds(o.intervalMs, `${prefix}.intervalMs`, adjusted);
  const probes = count(o.count, `${prefix}.count`, { min: 1, max: 127 });
  if (userTimeout?.value !== undefined && o.userTimeoutMs !== undefined)
    throw new TypeError(
      `${userTimeout.name} and ${prefix}.userTimeoutMs are both given; give one of them`,
    );
  let userTimeoutMs: number;
  if (userTimeout?.value !== undefined) {
    userTimeoutMs = checkUserTimeout(userTimeout.value, userTimeout.name);
  } else if (o.userTimeoutMs !== undefined) {
    userTimeoutMs = checkUserTimeout(o.userTimeoutMs, `${prefix}.userTimeoutMs`);
  } else {
    const detection = detectionTimeMs({ idleMs, intervalMs, count: probes });
    userTimeoutMs = Math.min(detection, MAX_TIMER_MS);
    if (userTimeoutMs !== detection)
      adjusted.push(
        `userTimeoutMs: the default (the detection time, ${detection} ms) is capped at ${MAX_TIMER_MS}, the kernel's limit`,
      );
  }
  return { idleMs, intervalMs, count: probes, userTimeoutMs, adjusted };
}

// What this process can do, found once.
let nodeFull: boolean | undefined;
/**
 * Whether Node's own `setKeepAlive` takes `{ enable, initialDelay, interval, count }`: a probe of
 * the running Node, not a version check. Node versions with the object form read its `interval`
 * field; older ones coerce the object to `true` and never look inside.
 */
export function nodeTakesKeepAliveObject(): boolean {
  if (nodeFull === undefined) {
    let read = false;
    const probe = new net.Socket();
    try {
      (probe.setKeepAlive as unknown as (o: object) => void).call(probe, {
        enable: false,
        initialDelay: 0,
        get interval() {
          read = true;
          return 1000;
        },
        count: 1,
      });
    } catch {
      // an implementation that rejects the probe's values still read them
    }
    probe.destroy();
    nodeFull = read;
  }
  return nodeFull;
}

let supported: ReturnType<typeof support> | undefined;
const degradedSent = new Set<string>();
/** Publishes a degraded setting once per process (once delivered to a subscriber). */
function degraded(setting: string, reason: string): void {
  if (degradedSent.has(setting) || !diagnostics.degraded.hasSubscribers) return;
  degradedSent.add(setting);
  diagnostics.degraded.publish({ setting, reason });
}

/** What this process can set, and how. */
export function keepAliveSupport(): {
  interval: boolean;
  count: boolean;
  userTimeout: boolean;
  readBack: boolean;
  via: 'native' | 'node' | 'none';
  /** Why the native part is unavailable, when it is. */
  nativeError?: string;
} {
  const s = support();
  const node = nodeTakesKeepAliveObject();
  const out: ReturnType<typeof keepAliveSupport> = {
    interval: s.sockopts || node,
    count: s.sockopts || node,
    userTimeout: s.userTimeout,
    readBack: s.sockopts,
    via: s.sockopts ? 'native' : node ? 'node' : 'none',
  };
  if (!s.native && s.reason) out.nativeError = s.reason;
  return out;
}

function failed(socket: Socket, err: unknown): KeepAliveFailedError {
  const code = (err as { code?: string } | null)?.code;
  const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
  return new KeepAliveFailedError(
    code === 'HALFOPEN_ERR_SOCKET_DESTROYED'
      ? `socket to ${peer} closed before keepalive could be set`
      : `could not set keepalive on the socket to ${peer}: ${(err as Error)?.message ?? String(err)}`,
    { cause: err },
  );
}

/**
 * Applies checked settings (or, with `keepAlive` undefined, only a user timeout) to a connected
 * socket and reports what is in force. Throws KeepAliveFailedError when the socket is gone or
 * the kernel refuses; with `strict`, KeepAliveUnsupportedError when something cannot be applied.
 */
export function applySettings(
  socket: Socket,
  s: CheckedSettings | undefined,
  userTimeoutMs: number,
  requested: Partial<KeepAliveSettings>,
  strict: boolean,
  adjusted: string[] = s?.adjusted ?? [],
): KeepAliveReport {
  const unsupported: string[] = [];
  supported ??= support(); // loaded once per process
  const sup = supported;
  let applied: Sockopts | undefined;
  let via: KeepAliveReport['via'];
  if (socket.destroyed)
    throw failed(socket, { code: 'HALFOPEN_ERR_SOCKET_DESTROYED', message: 'destroyed' });
  if (sup.sockopts) {
    // One native call: SO_KEEPALIVE, idle, interval, count and TCP_USER_TIMEOUT, read back.
    try {
      applied = setSockopts(
        socket,
        s
          ? {
              keepAlive: true,
              idleMs: s.idleMs,
              intervalMs: s.intervalMs,
              count: s.count,
              userTimeoutMs,
            }
          : { userTimeoutMs },
      );
    } catch (err) {
      throw failed(socket, err);
    }
    via = s ? 'native' : 'off';
  } else {
    const why = `no native part (${sup.reason ?? sup.platform})`;
    if (!s) via = 'off';
    else if (nodeTakesKeepAliveObject()) {
      (socket.setKeepAlive as unknown as (o: object) => void).call(socket, {
        enable: true,
        initialDelay: s.idleMs,
        interval: s.intervalMs,
        count: s.count,
      });
      via = 'node';
    } else {
      socket.setKeepAlive(true, s.idleMs);
      via = 'none';
      const reason = `${why} and Node's setKeepAlive takes only the idle time here; libuv keeps 1 s x 10`;
      unsupported.push(`intervalMs, count: ${reason}`);
      degraded('intervalMs', reason);
      degraded('count', reason);
    }
    if (userTimeoutMs > 0) {
      const reason = `${why}; Node has no API for TCP_USER_TIMEOUT`;
      unsupported.push(`userTimeoutMs: ${reason}`);
      degraded('userTimeoutMs', reason);
    }
    degraded('readBack', `${why}; what is in force cannot be read back`);
  }
  let detection = Number.POSITIVE_INFINITY;
  if (applied) {
    if (applied.keepAlive) detection = detectionTimeMs(applied);
  } else if (s) {
    detection = detectionTimeMs(via === 'none' ? { ...s, intervalMs: 1000, count: 10 } : s);
  }
  const report: KeepAliveReport = {
    requested,
    applied,
    via,
    detectionTimeMs: detection,
    unsupported,
    adjusted,
  };
  if (strict && unsupported.length > 0) throw new KeepAliveUnsupportedError(unsupported);
  return report;
}

/**
 * Turns keepalive on with the given idle/interval/count and sets TCP_USER_TIMEOUT, on a
 * connected socket, then reads back what is in force. With `strict`, throws
 * KeepAliveUnsupportedError if anything could not be applied; otherwise reports it.
 * Throws KeepAliveFailedError when the socket is already gone or the kernel refuses.
 */
export function setKeepAlive(
  socket: Socket,
  settings: KeepAliveSettings,
  options?: { strict?: boolean },
): KeepAliveReport {
  if (!(socket instanceof net.Socket))
    throw new TypeError(
      `setKeepAlive(socket): socket must be a net.Socket or tls.TLSSocket, got ${describe(socket)}`,
    );
  const s = checkSettings(settings);
  const o = checkOptions(options, ['strict'], 'options');
  const strict = bool(o.strict, 'options.strict', false);
  return applySettings(socket, s, s.userTimeoutMs, { ...settings }, strict);
}

/** What `keepAliveServer` returns: dispose it to stop configuring new connections. */
export interface KeepAliveServerHandle {
  /** Sockets configured, and failures reported, so far. */
  stats(): { applied: number; failed: number };
  /** Stops applying the settings to new connections (sockets already configured keep theirs). */
  dispose(): void;
  [Symbol.dispose](): void;
}

interface ServerLike {
  on(event: 'connection', fn: (s: Socket) => void): unknown;
  removeListener(event: 'connection', fn: (s: Socket) => void): unknown;
}

/**
 * Applies the same settings to every socket `server` accepts. Reports go to `onReport`; a
 * failure (the socket closed first, the kernel refused, a throwing `onReport`) goes to
 * `onError` and to the `halfopen:keepalive:error` channel, never into the server's emitter.
 */
export function keepAliveServer(
  server: ServerLike,
  settings: KeepAliveSettings,
  options?: {
    /** Receives the report of each configured socket. Default: none. */
    onReport?: (report: KeepAliveReport, socket: Socket) => void;
    /** Receives each failure (a KeepAliveError) with its socket. Default: none (channel only). */
    onError?: (error: unknown, socket: Socket) => void;
  },
): KeepAliveServerHandle {
  if (
    server === null ||
    typeof server !== 'object' ||
    typeof server.on !== 'function' ||
    typeof server.removeListener !== 'function'
  )
    throw new TypeError(
      `keepAliveServer(server): server must be a net.Server, got ${describe(server)}`,
    );
  const s = checkSettings(settings);
  const o = checkOptions(options, ['onReport', 'onError'], 'options');
  const onReport = fn(o.onReport, 'options.onReport');
  const onError = fn(o.onError, 'options.onError');
  const requested = { ...settings };
  let applied = 0;
  let failures = 0;
  const report = (error: unknown, socket: Socket) => {
    failures++;
    publish(diagnostics.error, { error, socket, where: 'keepAliveServer' });
    if (onError) callUser(onError, [error, socket], reportOnly);
  };
  const onConnection = (socket: Socket) => {
    let r: KeepAliveReport;
    try {
      r = applySettings(socket, s, s.userTimeoutMs, requested, false);
    } catch (error) {
      report(error, socket);
      return;
    }
    applied++;
    if (onReport) callUser(onReport, [r, socket], (error) => report(error, socket));
  };
  server.on('connection', onConnection);
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    server.removeListener('connection', onConnection);
  };
  return {
    stats: () => ({ applied, failed: failures }),
    dispose,
    [Symbol.dispose]: dispose,
  };
}

/** A failure of a user callback that has no caller to go to. */
export function reportOnly(error: unknown): void {
  publish(diagnostics.error, { error, where: 'callback' });
}
