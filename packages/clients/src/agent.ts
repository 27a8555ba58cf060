import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { connect as tlsConnect } from 'node:tls';
import { ConnectTimeoutError } from '@halfopen/keepalive';
import { guardSocket, type SocketGuard, type TimeoutInfo } from '@halfopen/idle-timeout';
import { bool, checkOptions, describe, fn, MAX_TIMER_MS, ms, publish } from '@halfopen/internal';
import { tcpInfo } from '@halfopen/sockopt';
import { channels } from './diagnostics.js';
import { checkDial, DIAL_KEYS, type Dial, type DialOptions, dial } from './dial.js';
import { AgentDestroyedError } from './errors.js';

/** Options of `Agent` / `HttpsAgent`: Node's pool options, plus how sockets are dialed and guarded. */
export interface AgentOptions extends DialOptions {
  /** Close a pooled socket unused for this long, ms (below Node's server's 5 s; a `Keep-Alive: timeout=` hint lowers it to hint - 1 s, as Node's agent does). Default 4000. */
  freeSocketTimeoutMs?: number;
  /** Destroy a socket on which a response makes no progress (no byte) for this long while a request is in flight, ms; never applied to pooled sockets, and each request on a reused socket gets the whole window. 0 = off. Default 0. */
  readIdleMs?: number;
  /** Send once more, on a fresh socket, a request cut on a reused socket before any response byte, when that is safe (idempotent method, no body). Default true. */
  retryReused?: boolean;
  /** Largest number of sockets per origin (Node's `maxSockets`). Default Infinity. */
  maxSockets?: number;
  /** Largest number of sockets in all (Node's `maxTotalSockets`). Default Infinity. */
  maxTotalSockets?: number;
  /** Largest number of pooled sockets per origin (Node's `maxFreeSockets`). Default 256. */
  maxFreeSockets?: number;
  /** Which pooled socket goes first (Node's `scheduling`). Default 'lifo'. */
  scheduling?: 'fifo' | 'lifo';
  /** Random source for `maxAgeJitter`, in [0, 1). Default Math.random. */
  random?: () => number;
}

/** Options of `HttpsAgent`: AgentOptions plus TLS options for every connection. */
export interface HttpsAgentOptions extends AgentOptions, tls.ConnectionOptions {}

/** Counters since the agent was made; `open` and `free` are current. */
export interface AgentStats {
  /** Sockets dialed. */
  created: number;
  /** Dials that failed (timeout, refused, TLS). */
  connectFailed: number;
  /** Requests sent on a pooled socket. */
  reused: number;
  /** Pooled sockets not handed to a request because the peer had closed them (FIN or RST seen). */
  discardedPeerClosed: number;
  /** Requests cut on a reused socket and sent again on a fresh one. */
  retried: number;
  /** Requests cut on a reused socket and not sent again (not safe, or already retried): the error reached the caller. */
  notRetried: number;
  /** Pooled sockets closed after `freeSocketTimeoutMs` (or the server's hint). */
  cutFreeTimeout: number;
  /** Sockets retired by `maxAgeMs`. */
  cutMaxAge: number;
  /** In-flight sockets destroyed by `readIdleMs`. */
  cutReadIdle: number;
  /** In-flight sockets destroyed by `writeStallMs`. */
  cutWriteStall: number;
  /** Sockets open now (in use and pooled). */
  open: number;
  /** Pooled sockets now. */
  free: number;
}

const AGENT_KEYS = [
  ...DIAL_KEYS,
  'freeSocketTimeoutMs',
  'readIdleMs',
  'retryReused',
  'maxSockets',
  'maxTotalSockets',
  'maxFreeSockets',
  'scheduling',
  'random',
] as const;

const TLS_KEYS = [
  'ca',
  'cert',
  'key',
  'pfx',
  'passphrase',
  'crl',
  'ciphers',
  'ecdhCurve',
  'sigalgs',
  'minVersion',
  'maxVersion',
  'secureProtocol',
  'secureOptions',
  'honorCipherOrder',
  'rejectUnauthorized',
  'checkServerIdentity',
  'servername',
  'ALPNProtocols',
  'privateKeyIdentifier',
  'privateKeyEngine',
  'secureContext',
  'requestCert',
  'session',
] as const;

/** RFC 9110 idempotent methods: sending one twice has the effect of sending it once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const kState = Symbol('halfopen.clients.state');
const kRetry = Symbol('halfopen.clients.retry');
/** The options a request was added with (a retry dials with them). */
const kOptions = Symbol('halfopen.clients.options');

interface SocketState {
  busy: boolean;
  /** Set when max age passed while in use: retired when next free. */
  expired: boolean;
  /** When it was last pooled (performance.now()). */
  freeAt: number;
  /** The free-socket timeout in force (lowered by a `Keep-Alive: timeout=` hint). */
  freeTimeoutMs: number;
  /** Its guard: the read-idle window starts over when a pooled socket is handed out. */
  guard: SocketGuard | undefined;
}

type Sock = net.Socket & { [kState]?: SocketState };

/** What a request on a reused socket needs to be sent again. */
interface RetryTrap {
  core: Core;
  socket: net.Socket;
  bytesWritten: number;
  bytesRead: number;
  options: http.RequestOptions;
  /** Set when its failure was swallowed: the 'close' that follows sends it again. */
  pending: unknown;
  done: boolean;
}

type Req = http.ClientRequest & {
  [kRetry]?: RetryTrap | 'retried';
  [kOptions]?: http.RequestOptions;
  _header?: string | null;
  outputData?: { data: unknown; encoding: unknown; callback: unknown }[];
  outputSize?: number;
  _closed?: boolean;
  timeout?: number;
};

interface Settings {
  dial: Dial;
  freeSocketTimeoutMs: number;
  readIdleMs: number;
  retryReused: boolean;
  random: (() => number) | undefined;
  tls: tls.ConnectionOptions | undefined;
}

function checkAgentOptions(
  options: AgentOptions | HttpsAgentOptions | undefined,
  isTls: boolean,
): { settings: Settings; node: http.AgentOptions } {
  const keys = isTls ? [...AGENT_KEYS, ...TLS_KEYS] : AGENT_KEYS;
  const o = checkOptions(options as AgentOptions, keys, 'options') as HttpsAgentOptions;
  const settings: Settings = {
    dial: checkDial(o),
    freeSocketTimeoutMs: ms(o.freeSocketTimeoutMs, 'options.freeSocketTimeoutMs', {
      default: 4000,
      min: 1,
      max: MAX_TIMER_MS,
    }),
    readIdleMs: ms(o.readIdleMs, 'options.readIdleMs', { default: 0, zeroOff: true }),
    retryReused: bool(o.retryReused, 'options.retryReused', true),
    random: fn(o.random, 'options.random'),
    tls: undefined,
  };
  const node: http.AgentOptions = { keepAlive: true };
  for (const k of ['maxSockets', 'maxTotalSockets', 'maxFreeSockets'] as const) {
    const v = o[k];
    if (v === undefined || v === Number.POSITIVE_INFINITY) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new (typeof v === 'number' ? RangeError : TypeError)(
        `options.${k} must be an integer >= 1 or Infinity, got ${describe(v)}`,
      );
    node[k] = v;
  }
  if (o.scheduling !== undefined) {
    if (o.scheduling !== 'fifo' && o.scheduling !== 'lifo')
      throw new TypeError(
        `options.scheduling must be 'fifo' or 'lifo', got ${describe(o.scheduling)}`,
      );
    node.scheduling = o.scheduling;
  }
  if (isTls) {
    const t: Record<string, unknown> = {};
    for (const k of TLS_KEYS)
      if (o[k as keyof HttpsAgentOptions] !== undefined) t[k] = o[k as keyof HttpsAgentOptions];
    settings.tls = t as tls.ConnectionOptions;
  }
  return { settings, node };
}

function newStats(): AgentStats {
  return {
    created: 0,
    connectFailed: 0,
    reused: 0,
    discardedPeerClosed: 0,
    retried: 0,
    notRetried: 0,
    cutFreeTimeout: 0,
    cutMaxAge: 0,
    cutReadIdle: 0,
    cutWriteStall: 0,
    open: 0,
    free: 0,
  };
}

/**
 * Pooled this long or more, a socket's TCP state is also asked of the kernel before reuse. A
 * server closes an idle connection after its idle timeout, never within 2 ms of answering; below
 * that the kernel read (a syscall per request at full rate) would buy nothing.
 */
const KERNEL_CHECK_AFTER_MS = 2;

/** Whether the peer already closed (FIN or RST seen by Node or, where readable, by the kernel). */
function peerClosed(socket: net.Socket, idleMs: number): boolean {
  if (socket.destroyed || !socket.writable || socket.readableEnded) return true;
  const s = (socket as { _readableState?: { ended?: boolean } })._readableState;
  if (s?.ended) return true;
  // A FIN can sit unread in the kernel when the request is sent in the same loop turn (timers
  // run before the poll that would read it): the kernel's TCP state already says CLOSE_WAIT.
  if (idleMs < KERNEL_CHECK_AFTER_MS) return false;
  if (typeof socket.remotePort !== 'number') return false; // a Unix socket: no TCP state
  try {
    const info = tcpInfo(socket);
    return info !== undefined && info.state !== 'ESTABLISHED';
  } catch {
    return false; // the kernel would not say: Node's view above stands
  }
}

/** The state machine shared by Agent and HttpsAgent (both extend Node's classes). */
class Core {
  readonly stats = newStats();
  destroyed = false;
  sweeper: NodeJS.Timeout | undefined;
  readonly guardOptions;
  constructor(
    readonly agent: http.Agent,
    readonly s: Settings,
    readonly kind: 'http' | 'https',
  ) {
    this.guardOptions = {
      ...(s.readIdleMs > 0 ? { readIdleMs: s.readIdleMs } : {}),
      ...(s.dial.writeStallMs > 0 ? { writeStallMs: s.dial.writeStallMs } : {}),
      ...(s.dial.maxAgeMs > 0
        ? { maxAgeMs: s.dial.maxAgeMs, maxAgeJitter: s.dial.maxAgeJitter }
        : {}),
      ...(s.random ? { random: s.random } : {}),
      onTimeout: (info: TimeoutInfo, socket: net.Socket) => this.onTimeout(info, socket),
    };
  }

  /** The guard's decider: read-idle and write-stall only count while a request is in flight. */
  onTimeout(info: TimeoutInfo, socket: net.Socket): 'destroy' | 'ignore' {
    const st = (socket as Sock)[kState];
    if (!st) return 'destroy';
    if (info.reason === 'max-age') {
      if (st.busy) {
        st.expired = true; // retired when this request is done, never under it
        return 'ignore';
      }
      this.stats.cutMaxAge++;
      this.cut('max-age', socket, info);
      return 'destroy';
    }
    if (!st.busy) return 'ignore';
    if (info.reason === 'read-idle') this.stats.cutReadIdle++;
    else if (info.reason === 'write-stall') this.stats.cutWriteStall++;
    this.cut(info.reason, socket, info);
    return 'destroy';
  }

  cut(reason: string, socket: net.Socket, info?: TimeoutInfo): void {
    publish(channels.cut, {
      client: this.kind,
      reason,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      info,
    });
  }

  createConnection(
    options: http.ClientRequestArgs & { servername?: string; _agentKey?: string },
    cb: (err: Error | null, socket?: net.Socket) => void,
  ): void {
    const host = options.host ?? options.hostname ?? 'localhost';
    const port = Number(options.port ?? (this.kind === 'https' ? 443 : 80));
    if (this.destroyed) {
      cb(new AgentDestroyedError(host, port));
      return;
    }
    let tlsOptions: tls.ConnectionOptions | undefined;
    if (this.kind === 'https') {
      const a = this.agent as https.Agent & {
        _getSession?(key: string): Buffer | undefined;
      };
      const t: Record<string, unknown> = {};
      for (const k of TLS_KEYS)
        if ((options as Record<string, unknown>)[k] !== undefined)
          t[k] = (options as Record<string, unknown>)[k];
      const session = options._agentKey ? a._getSession?.(options._agentKey) : undefined;
      tlsOptions = { ...this.s.tls, ...t, ...(session ? { session } : {}) };
      if (!tlsOptions.servername && !net.isIP(host)) tlsOptions.servername = host;
    }
    (options.socketPath
      ? dialPath(options.socketPath, tlsOptions, this.s.dial.connectTimeoutMs)
      : dial(
          this.s.dial,
          {
            host,
            port,
            ...(options.localAddress ? { localAddress: options.localAddress } : {}),
            ...(options.family ? { family: options.family } : {}),
          },
          tlsOptions,
        )
    ).then(
      (socket) => {
        this.stats.created++;
        this.stats.open++;
        const st: SocketState = {
          busy: true,
          expired: false,
          freeAt: 0,
          freeTimeoutMs: this.s.freeSocketTimeoutMs,
          guard: undefined,
        };
        (socket as Sock)[kState] = st;
        st.guard = guardSocket(socket, this.guardOptions);
        socket.once('close', () => {
          this.stats.open--;
          if (!st.busy) this.stats.free--;
          st.busy = true; // counted once
        });
        if (this.kind === 'https' && options._agentKey) {
          const key = options._agentKey;
          const a = this.agent as https.Agent & { _cacheSession?(k: string, s: Buffer): void };
          socket.on('session', (s: Buffer) => a._cacheSession?.(key, s));
        }
        if (this.destroyed) {
          socket.destroy();
          cb(new AgentDestroyedError(host, port));
          return;
        }
        cb(null, socket);
      },
      (err: unknown) => {
        this.stats.connectFailed++;
        publish(channels['connect-error'], { client: this.kind, host, port, error: err });
        cb(err as Error);
      },
    );
  }

  keepSocketAlive(socket: net.Socket): boolean {
    const st = (socket as Sock)[kState];
    if (!st || st.expired) {
      if (st?.expired) {
        this.stats.cutMaxAge++;
        this.cut('max-age', socket);
      }
      return false;
    }
    let timeout = this.s.freeSocketTimeoutMs;
    const res = (socket as { _httpMessage?: { res?: http.IncomingMessage } })._httpMessage?.res;
    const hint = res?.headers['keep-alive'];
    if (typeof hint === 'string') {
      const secs = /^timeout=(\d+)/.exec(hint)?.[1];
      if (secs) {
        // As Node's agent does: expire 1 s before the announced timeout.
        const hinted = Number.parseInt(secs, 10) * 1000 - 1000;
        if (hinted <= 0) return false;
        timeout = Math.min(timeout, hinted);
      }
    }
    socket.unref();
    st.freeAt = performance.now();
    st.freeTimeoutMs = timeout;
    st.busy = false;
    this.stats.free++;
    this.sweepSoon();
    return true;
  }

  /**
   * One unref'd timer per agent, running while sockets are pooled, closes those past their
   * free-socket timeout (no timer per socket or per request). The deadline is exact where it
   * matters: a socket past it is never handed out (see prune).
   */
  sweepSoon(): void {
    if (this.sweeper) return;
    const every = Math.min(1000, Math.max(10, this.s.freeSocketTimeoutMs / 4));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  sweep(): void {
    const now = performance.now();
    const pools = this.agent.freeSockets as Record<string, net.Socket[] | undefined>;
    let left = 0;
    for (const name in pools) {
      const pool = pools[name]!;
      for (let i = pool.length - 1; i >= 0; i--) {
        const st = (pool[i] as Sock)[kState];
        if (st && !st.busy && now - st.freeAt >= st.freeTimeoutMs)
          this.discard(pool, i, 'free-timeout');
        else left++;
      }
      if (pool.length === 0) delete pools[name];
    }
    if (left === 0 || this.destroyed) this.stopSweeping();
  }

  stopSweeping(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Takes pool[i] out of the pool, counted and explained, and destroys it. */
  discard(pool: net.Socket[], i: number, reason: 'peer-closed' | 'free-timeout'): void {
    const socket = pool[i]!;
    pool.splice(i, 1);
    const st = (socket as Sock)[kState];
    if (st && !st.busy) {
      st.busy = true;
      this.stats.free--;
    }
    if (reason === 'free-timeout') {
      this.stats.cutFreeTimeout++;
      this.cut(reason, socket);
    } else {
      this.stats.discardedPeerClosed++;
      publish(channels.discard, {
        client: this.kind,
        reason,
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort,
      });
    }
    socket.destroy();
  }

  reuseSocket(socket: net.Socket, req: Req, options: http.RequestOptions): void {
    const st = (socket as Sock)[kState];
    if (st && !st.busy) {
      st.busy = true;
      this.stats.free--;
    }
    // While pooled the window kept running (re-armed on every pass): the request gets all of it.
    if (this.s.readIdleMs > 0) st?.guard?.resetReadIdle();
    this.stats.reused++;
    if (this.s.retryReused && req[kRetry] === undefined) this.trap(req, socket, options);
  }

  /**
   * Drops from the pool, before Node picks one, every socket whose peer already closed (FIN or
   * RST) or that is past its free-socket timeout, so no request is handed a socket known to be
   * dead or about to be closed by the server.
   */
  prune(name: string): void {
    const pools = this.agent.freeSockets as Record<string, net.Socket[] | undefined>;
    const pool = pools[name];
    if (!pool) return;
    // Only the socket Node will pick is checked (one kernel read), and the next if it was dead.
    const fifo = (this.agent as { scheduling?: string }).scheduling === 'fifo';
    const now = performance.now();
    while (pool.length > 0) {
      const i = fifo ? 0 : pool.length - 1;
      const socket = pool[i]!;
      const st = (socket as Sock)[kState];
      const idleMs = st && !st.busy ? now - st.freeAt : KERNEL_CHECK_AFTER_MS;
      if (st && !st.busy && idleMs >= st.freeTimeoutMs) {
        this.discard(pool, i, 'free-timeout');
        continue;
      }
      if (!peerClosed(socket, idleMs)) break;
      this.discard(pool, i, 'peer-closed');
    }
    if (pool.length === 0) delete pools[name];
  }

  /**
   * Watches a request on a reused socket: if that socket fails before any response byte, and
   * the request is idempotent with nothing but its header sent, the failure is kept from the
   * caller and the request is sent again on a fresh socket, once.
   */
  trap(req: Req, socket: net.Socket, options: http.RequestOptions): void {
    req[kRetry] = {
      core: this,
      socket,
      bytesWritten: socket.bytesWritten,
      bytesRead: socket.bytesRead,
      options,
      pending: undefined,
      done: false,
    };
    req.emit = trappedEmit;
  }

  /** The request's 'error' on a reused socket: kept from the caller when it will be sent again. */
  onTrappedError(req: Req, trap: RetryTrap, error: unknown): boolean {
    const why = this.unsafe(req, trap);
    publish(channels.retry, {
      client: this.kind,
      method: req.method,
      host: req.host,
      path: req.path,
      error,
      retried: why === undefined,
      ...(why === undefined ? {} : { reason: why }),
    });
    if (why === undefined) {
      trap.pending = error;
      return true;
    }
    this.stats.notRetried++;
    trap.done = true;
    return false;
  }

  /** Why a request cut on a reused socket must not be sent again, or undefined when it may. */
  unsafe(req: Req, trap: RetryTrap): string | undefined {
    if (!IDEMPOTENT.has(req.method)) return `method ${req.method} is not idempotent`;
    if ((req as { res?: unknown }).res || trap.socket.bytesRead !== trap.bytesRead)
      return 'response bytes arrived';
    if (!req.writableEnded || typeof req._header !== 'string')
      return 'the request was not complete when the socket failed';
    const sent = trap.socket.bytesWritten - trap.bytesWritten;
    if (sent !== Buffer.byteLength(req._header, 'latin1')) return 'a body was sent';
    if ((req as { aborted?: boolean }).aborted) return 'aborted';
    if (this.destroyed) return 'agent destroyed';
    return undefined;
  }

  /** Sends the request's header again on a fresh socket (never a pooled one). */
  resend(req: Req, trap: RetryTrap): void {
    req[kRetry] = 'retried';
    if (this.destroyed) {
      req.destroy(new AgentDestroyedError(req.host, Number(trap.options.port)));
      return;
    }
    this.stats.retried++;
    req.destroyed = false;
    req._closed = false;
    const header = req._header as string;
    req.outputData = [{ data: header, encoding: 'latin1', callback: null }];
    req.outputSize = header.length;
    const agent = this.agent as http.Agent & {
      createSocket(
        req: http.ClientRequest,
        options: unknown,
        cb: (err: Error | null, s?: net.Socket) => void,
      ): void;
    };
    agent.createSocket(req, trap.options, (err, socket) => {
      if (err || !socket) {
        (req as unknown as { onSocket(s: unknown, e?: unknown): void }).onSocket(socket, err);
        return;
      }
      (req as unknown as { onSocket(s: net.Socket): void }).onSocket(socket);
      if (req.timeout !== undefined) socket.setTimeout(req.timeout);
    });
  }
}

const baseEmit = EventEmitter.prototype.emit;

/**
 * The emit of a request on a reused socket (one shared function, state on the request): until
 * a response starts, an 'error' that may be retried and the 'close' after it are kept from the
 * caller, and the request is sent again.
 */
function trappedEmit(this: Req, event: string | symbol): boolean {
  const trap = this[kRetry];
  if (typeof trap === 'object' && !trap.done) {
    if (event === 'response') trap.done = true;
    else if (event === 'error' && trap.pending === undefined) {
      // biome-ignore lint/complexity/noArguments: passes the event's arguments on without copying them
      if (trap.core.onTrappedError(this, trap, arguments[1])) return true;
    } else if (event === 'close' && trap.pending !== undefined) {
      trap.done = true;
      // After Node's close handling (which empties the request's output) is done.
      process.nextTick(resendLater, this, trap);
      return true;
    }
  }
  // biome-ignore lint/complexity/noArguments: passes the event's arguments on without copying them
  return Reflect.apply(baseEmit, this, arguments);
}

function resendLater(req: Req, trap: RetryTrap): void {
  trap.core.resend(req, trap);
}

function nameOf(agent: http.Agent, req: http.ClientRequest, options: http.RequestOptions): string {
  const o: Record<string, unknown> = { ...options, ...(agent as { options?: object }).options };
  if (o.socketPath) o.path = o.socketPath;
  if (!o.servername && o.servername !== '') {
    let servername = o.host as string | undefined;
    const hostHeader = req.getHeader('host');
    if (typeof hostHeader === 'string') {
      if (hostHeader[0] === '[') {
        const i = hostHeader.indexOf(']');
        servername = i === -1 ? hostHeader : hostHeader.substring(1, i);
      } else servername = hostHeader.split(':', 1)[0];
    }
    o.servername = servername && net.isIP(servername) ? '' : servername;
  }
  return agent.getName(o as http.ClientRequestArgs);
}

/**
 * A Unix socket (`socketPath`): no TCP options to set, so no @halfopen/keepalive; the connect
 * deadline still holds.
 */
function dialPath(
  path: string,
  tlsOptions: tls.ConnectionOptions | undefined,
  timeoutMs: number,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = tlsOptions ? tlsConnect({ ...tlsOptions, path }) : net.connect({ path });
    const event = tlsOptions ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectTimeoutError(path, 0, timeoutMs, 1));
    }, timeoutMs);
    timer.unref();
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
    socket.once(event, () => {
      clearTimeout(timer);
      socket.removeListener('error', fail);
      resolve(socket);
    });
  });
}

const kCore = Symbol('halfopen.clients.core');
type WithCore = http.Agent & { [kCore]: Core };

/**
 * An http.Agent that dials through @halfopen/keepalive (connect deadline, keepalive,
 * TCP_USER_TIMEOUT), guards each socket with deadlines that fit its state (read-idle and
 * write-stall in flight, a free-socket timeout while pooled, jittered max age), never hands a
 * request a pooled socket the peer already closed, and sends once more a request cut on a
 * reused socket when that is safe. Use it wherever Node takes an `agent`.
 */
export class Agent extends http.Agent {
  declare [kCore]: Core;
  constructor(options?: AgentOptions) {
    const { settings, node } = checkAgentOptions(options, false);
    super(node);
    this[kCore] = new Core(this, settings, 'http');
  }
  /** Counters since the agent was made (see AgentStats). */
  stats(): AgentStats {
    return { ...this[kCore].stats };
  }
}

/** The https counterpart of Agent; TLS options (ca, servername, ...) go to every connection. */
export class HttpsAgent extends https.Agent {
  declare [kCore]: Core;
  constructor(options?: HttpsAgentOptions) {
    const { settings, node } = checkAgentOptions(options, true);
    super({ ...node, ...settings.tls });
    this[kCore] = new Core(this, settings, 'https');
  }
  /** Counters since the agent was made (see AgentStats). */
  stats(): AgentStats {
    return { ...this[kCore].stats };
  }
}

type Base = {
  addRequest(req: http.ClientRequest, options: http.RequestOptions): void;
  reuseSocket(socket: net.Socket, req: http.ClientRequest): void;
  destroy(): void;
};

/** Node calls these on the agent; both classes get the same ones, over their own base. */
function install(proto: object, base: Base): void {
  Object.assign(proto, {
    createConnection(
      this: WithCore,
      options: http.ClientRequestArgs,
      cb: (err: Error | null, s?: net.Socket) => void,
    ): undefined {
      this[kCore].createConnection(options, cb);
      return undefined;
    },
    keepSocketAlive(this: WithCore, socket: net.Socket): boolean {
      return this[kCore].keepSocketAlive(socket);
    },
    reuseSocket(this: WithCore, socket: net.Socket, req: http.ClientRequest): void {
      base.reuseSocket.call(this, socket, req);
      this[kCore].reuseSocket(socket, req as Req, (req as Req)[kOptions] ?? {});
    },
    addRequest(this: WithCore, req: http.ClientRequest, options: http.RequestOptions): void {
      (req as Req)[kOptions] = options;
      for (const _ in this.freeSockets) {
        // Our http agent's own options never change the name: Node's getName on the request's.
        const core = this[kCore];
        core.prune(core.kind === 'http' ? this.getName(options) : nameOf(this, req, options));
        break;
      }
      base.addRequest.call(this, req, options);
    },
    destroy(this: WithCore): void {
      this[kCore].destroyed = true;
      this[kCore].stopSweeping();
      base.destroy.call(this);
    },
  });
}
install(Agent.prototype, http.Agent.prototype as unknown as Base);
install(HttpsAgent.prototype, https.Agent.prototype as unknown as Base);
