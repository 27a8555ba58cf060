import type { Socket } from 'node:net';
import { constants } from 'node:os';
import {
  channels,
  checkOptions,
  count,
  describe,
  MAX_TIMER_MS,
  ms,
  publish,
} from '@halfopen/internal';
import { SockoptError } from './errors.js';
import { currentHost, type Loaded, loadNative, requireBinary } from './loader.js';

export { SockoptError, type SockoptErrorCode } from './errors.js';

/** What can be set and read on a TCP socket in one native call. Times in ms. */
export interface Sockopts {
  /** SO_KEEPALIVE. */
  keepAlive: boolean;
  /** TCP_KEEPIDLE: idle time before the first probe. Kernel unit whole seconds (1..32767); rounded up. */
  idleMs: number;
  /** TCP_KEEPINTVL: time between probes. Whole seconds (1..32767); rounded up. */
  intervalMs: number;
  /** TCP_KEEPCNT: unanswered probes before the connection is dropped (1..127). */
  count: number;
  /** TCP_USER_TIMEOUT: how long sent data may stay unacknowledged (ms; 0 = system default). */
  userTimeoutMs: number;
}

/** Linux TCP_INFO. Each optional field is present only where this kernel provides it. */
export interface TcpInfo {
  /** `ESTABLISHED`, `CLOSE_WAIT`, ... (tcpi_state). */
  state: string;
  /** Smoothed round-trip time, microseconds (tcpi_rtt). */
  rttUs?: number;
  /** Round-trip time variance, microseconds (tcpi_rttvar). */
  rttVarUs?: number;
  /** Retransmissions of the current segment run (tcpi_retransmits). */
  retransmits?: number;
  /** All retransmissions on this connection (tcpi_total_retrans). */
  totalRetrans?: number;
  /** Zero-window or keepalive probes sent and unanswered (tcpi_probes). */
  probes?: number;
  /** Retransmission timer backoff exponent (tcpi_backoff). */
  backoff?: number;
  /** Segments sent and not yet acknowledged (tcpi_unacked). */
  unackedSegments?: number;
  /** Segments considered lost (tcpi_lost). */
  lostSegments?: number;
  /** Bytes the peer acknowledged (tcpi_bytes_acked, Linux 4.1+). */
  bytesAcked?: number;
  /** Bytes received (tcpi_bytes_received, Linux 4.1+). */
  bytesReceived?: number;
  /** Bytes written but not yet sent (tcpi_notsent_bytes, Linux 4.6+). */
  notSentBytes?: number;
  /** The peer's advertised receive window in bytes (tcpi_snd_wnd, Linux 5.4+); 0 = zero window. */
  peerWindow?: number;
  /** Congestion window, segments (tcpi_snd_cwnd). */
  sendCwnd?: number;
  /** Sending maximum segment size, bytes (tcpi_snd_mss). */
  sendMss?: number;
  /** Since data was last received, ms (tcpi_last_data_recv). */
  lastDataRecvMs?: number;
  /** Since an ack was last received, ms (tcpi_last_ack_recv). */
  lastAckRecvMs?: number;
  /** Since data was last sent, ms (tcpi_last_data_sent). */
  lastDataSentMs?: number;
}

/** What works in this process, and why not. */
export interface Support {
  /** A binary loaded. */
  native: boolean;
  /** Its path. */
  binary?: string;
  /** Why not (platform, arch, libc, load error), when native is false. */
  reason?: string;
  /** `linux-x64-glibc`, `linux-arm64-glibc`, `linux-x64-musl`, `darwin-arm64`, ... */
  platform: string;
  /** setSockopts/getSockopts work (keepalive idle, interval, count). */
  sockopts: boolean;
  /** TCP_USER_TIMEOUT can be set and read. */
  userTimeout: boolean;
  /** tcpInfo() returns the kernel's view. */
  tcpInfo: boolean;
  /** sendQueueBytes() returns the kernel's send queue. */
  sendQueue: boolean;
}

const diag = channels('sockopt', ['load']);

let loaded: Loaded | undefined;
/** Loads the binary on first use (never at import) and says once on `halfopen:sockopt:load`. */
function state(): Loaded {
  if (loaded === undefined) {
    try {
      loaded = loadNative(currentHost(), requireBinary);
    } catch (err) {
      // A bundle without import.meta.url (CommonJS output) cannot locate prebuilds/.
      loaded = {
        native: undefined,
        file: undefined,
        reason: `cannot locate the binary (${(err as Error)?.message ?? String(err)}); set HALFOPEN_SOCKOPT_BINARY`,
        platform: `${process.platform}-${process.arch}`,
      };
    }
    publish(diag.load, support());
  }
  return loaded;
}

/** What works here: whether a binary loaded, which, and if not, why. Never throws. */
export function support(): Support {
  const s = state();
  const native = s.native !== undefined;
  const out: Support = {
    native,
    platform: s.platform,
    sockopts: native,
    userTimeout: native,
    tcpInfo: native,
    sendQueue: native,
  };
  if (s.file !== undefined) out.binary = s.file;
  if (s.reason !== undefined) out.reason = s.reason;
  return out;
}

type Handle = { fd?: unknown } | null | undefined;
interface SocketLike {
  destroyed?: boolean;
  _handle?: Handle;
  _parent?: { _handle?: Handle } | null;
  socket?: { _handle?: Handle } | null;
}

/**
 * The socket's fd (a TLSSocket's is its TCP handle's). A socket without a handle (destroyed,
 * never connected) is a coded error on every platform; one whose handle has no fd (Windows, a
 * TLSSocket over a JavaScript stream) gives -1, refused by `needFd` once the native part is known
 * to be there, so where there is none the documented degradation comes first.
 */
function fdOf(socket: Socket, call: string): number {
  if (socket === null || typeof socket !== 'object') {
    throw new TypeError(
      `${call}(socket): socket must be a net.Socket or tls.TLSSocket, got ${describe(socket)}`,
    );
  }
  const s = socket as unknown as SocketLike;
  if (s.destroyed === true || !(s._handle || s._parent?._handle || s.socket?._handle)) {
    throw new SockoptError(
      'HALFOPEN_ERR_SOCKET_DESTROYED',
      `${call}(): the socket has no file descriptor (${s.destroyed === true ? 'destroyed' : 'not connected or connecting'})`,
    );
  }
  const fd = s._handle?.fd ?? s._parent?._handle?.fd ?? s.socket?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

function needFd(fd: number, call: string): number {
  if (fd >= 0) return fd;
  throw new SockoptError(
    'HALFOPEN_ERR_SOCKET_DESTROYED',
    `${call}(): the socket has no file descriptor (not a TCP socket: a stream over JavaScript?)`,
  );
}

function unsupported(call: string): never {
  throw new SockoptError(
    'HALFOPEN_ERR_SOCKOPT_UNSUPPORTED',
    `${call}() needs the native part, unavailable here: ${state().reason}`,
  );
}

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, n]) => [n, name]),
);
function failed(errno: number, option: string, fd: number): SockoptError {
  const name = errnoNames.get(errno) ?? `errno ${errno}`;
  return new SockoptError('HALFOPEN_ERR_SOCKOPT_FAILED', `${option} on fd ${fd} failed: ${name}`, {
    errno: name,
    option,
  });
}

const OPTION_NAMES = [
  'SO_KEEPALIVE',
  'TCP_KEEPIDLE',
  'TCP_KEEPINTVL',
  'TCP_KEEPCNT',
  'TCP_USER_TIMEOUT',
];
const KEYS = ['keepAlive', 'idleMs', 'intervalMs', 'count', 'userTimeoutMs'] as const;
const out32 = new Int32Array(7);

function seconds(v: unknown, name: string): number {
  if (v === undefined) return -1;
  return Math.ceil(ms(v, name, { min: 1000, max: 32_767_000 }) / 1000);
}

function call(
  socket: Socket,
  name: string,
  k: number,
  idle: number,
  intvl: number,
  cnt: number,
  ut: number,
): Sockopts {
  const unchecked = fdOf(socket, name);
  const native = state().native ?? unsupported(name);
  const fd = needFd(unchecked, name);
  const errno = native.sockopts(fd, out32, k, idle, intvl, cnt, ut);
  if (errno !== 0) {
    throw failed(
      errno,
      `${out32[6] === 0 ? 'setsockopt' : 'getsockopt'}(${OPTION_NAMES[out32[5] ?? 0]})`,
      fd,
    );
  }
  return {
    keepAlive: out32[0] !== 0,
    idleMs: (out32[1] ?? 0) * 1000,
    intervalMs: (out32[2] ?? 0) * 1000,
    count: out32[3] ?? 0,
    userTimeoutMs: out32[4] ?? 0,
  };
}

/**
 * Sets the given options (undefined = leave as is), then reads all of them back, in one native
 * call; returns what is in force. Options are checked before any syscall: a value out of the
 * kernel's range is a RangeError naming `options.<name>`.
 * Throws SockoptError: HALFOPEN_ERR_SOCKET_DESTROYED, HALFOPEN_ERR_SOCKOPT_UNSUPPORTED,
 * HALFOPEN_ERR_SOCKOPT_FAILED.
 */
export function setSockopts(socket: Socket, options: Partial<Sockopts>): Sockopts {
  const o = checkOptions(options, KEYS, 'options');
  if (o.keepAlive !== undefined && typeof o.keepAlive !== 'boolean') {
    throw new TypeError(`options.keepAlive must be a boolean, got ${describe(o.keepAlive)}`);
  }
  const keepAlive = o.keepAlive === undefined ? -1 : o.keepAlive ? 1 : 0;
  const idle = seconds(o.idleMs, 'options.idleMs');
  const interval = seconds(o.intervalMs, 'options.intervalMs');
  const cnt = o.count === undefined ? -1 : count(o.count, 'options.count', { min: 1, max: 127 });
  const ut =
    o.userTimeoutMs === undefined
      ? -1
      : ms(o.userTimeoutMs, 'options.userTimeoutMs', { max: MAX_TIMER_MS, integer: true });
  return call(socket, 'setSockopts', keepAlive, idle, interval, cnt, ut);
}

/** Reads keepalive, idle, interval, count and TCP_USER_TIMEOUT in one native call. */
export function getSockopts(socket: Socket): Sockopts {
  return call(socket, 'getSockopts', -1, -1, -1, -1, -1);
}

const STATES = [
  'UNKNOWN',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
];
// The order native/sockopt.c writes them in; -1 means this kernel did not provide the field.
const FIELDS = [
  'rttUs',
  'rttVarUs',
  'retransmits',
  'totalRetrans',
  'probes',
  'backoff',
  'unackedSegments',
  'lostSegments',
  'bytesAcked',
  'bytesReceived',
  'notSentBytes',
  'peerWindow',
  'sendCwnd',
  'sendMss',
  'lastDataRecvMs',
  'lastAckRecvMs',
  'lastDataSentMs',
] as const;
const info64 = new Float64Array(18);

/**
 * The kernel's TCP_INFO for the socket: state, rtt, retransmits, probes, bytes acked, the peer's
 * window. undefined when the native part is unavailable (support().reason says why).
 * Throws SockoptError HALFOPEN_ERR_SOCKET_DESTROYED for a destroyed socket,
 * HALFOPEN_ERR_SOCKOPT_FAILED when the kernel refuses (not a TCP socket).
 */
export function tcpInfo(socket: Socket): TcpInfo | undefined {
  const unchecked = fdOf(socket, 'tcpInfo');
  const native = state().native;
  if (native === undefined) return undefined;
  const fd = needFd(unchecked, 'tcpInfo');
  const errno = native.tcpInfo(fd, info64);
  if (errno !== 0) throw failed(errno, 'getsockopt(TCP_INFO)', fd);
  const tcpState = STATES[info64[0] as number] ?? `UNKNOWN(${info64[0]})`;
  // The kernel fills a prefix of struct tcp_info: when its newest field we read (tcpi_snd_wnd,
  // 5.4+) is there, all are, and one object literal (one hidden class) serves.
  if ((info64[12] as number) >= 0) {
    return {
      state: tcpState,
      rttUs: info64[1] as number,
      rttVarUs: info64[2] as number,
      retransmits: info64[3] as number,
      totalRetrans: info64[4] as number,
      probes: info64[5] as number,
      backoff: info64[6] as number,
      unackedSegments: info64[7] as number,
      lostSegments: info64[8] as number,
      bytesAcked: info64[9] as number,
      bytesReceived: info64[10] as number,
      notSentBytes: info64[11] as number,
      peerWindow: info64[12] as number,
      sendCwnd: info64[13] as number,
      sendMss: info64[14] as number,
      lastDataRecvMs: info64[15] as number,
      lastAckRecvMs: info64[16] as number,
      lastDataSentMs: info64[17] as number,
    };
  }
  const info: TcpInfo = { state: tcpState };
  for (let i = 0; i < FIELDS.length; i++) {
    const v = info64[i + 1] as number;
    if (v >= 0) info[FIELDS[i] as (typeof FIELDS)[number]] = v;
  }
  return info;
}

/**
 * Bytes in the kernel's send queue not yet acknowledged by the peer (SIOCOUTQ); undefined when
 * the native part is unavailable. Throws like tcpInfo().
 */
export function sendQueueBytes(socket: Socket): number | undefined {
  const unchecked = fdOf(socket, 'sendQueueBytes');
  const native = state().native;
  if (native === undefined) return undefined;
  const fd = needFd(unchecked, 'sendQueueBytes');
  const n = native.sendQueue(fd);
  if (n < 0) throw failed(-n, 'ioctl(SIOCOUTQ)', fd);
  return n;
}
