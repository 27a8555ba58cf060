import { HalfopenError } from '@halfopen/internal';

/** Which deadline passed. */
export type TimeoutReason =
  | 'first-byte'
  | 'read-idle'
  | 'paused'
  | 'write-stall'
  | 'half-closed'
  | 'max-age';

/** Stable error codes, one per deadline: match on `err.code`. */
export const CODES = {
  'first-byte': 'HALFOPEN_ERR_FIRST_BYTE_TIMEOUT',
  'read-idle': 'HALFOPEN_ERR_READ_IDLE',
  paused: 'HALFOPEN_ERR_PAUSED_TOO_LONG',
  'write-stall': 'HALFOPEN_ERR_WRITE_STALL',
  'half-closed': 'HALFOPEN_ERR_HALF_CLOSED',
  'max-age': 'HALFOPEN_ERR_MAX_AGE',
} as const satisfies Record<TimeoutReason, string>;
export type TimeoutCode = (typeof CODES)[TimeoutReason];

/** What a deadline saw when it passed; handed to `onTimeout`, events and diagnostics. */
export interface TimeoutInfo {
  reason: TimeoutReason;
  code: TimeoutCode;
  /** The deadline in force (for write stalls, the effective window; see the README). */
  limitMs: number;
  /** How long the condition had lasted when it was noticed. */
  elapsedMs: number;
  /** How many times in a row this deadline has passed on this socket (1 the first time). */
  count: number;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  bytesRead: number;
  bytesWritten: number;
  /** Bytes waiting to be sent (write stalls: Node's queue plus, with kernel progress, the kernel's), 0 otherwise. */
  pendingBytes: number;
  /** How write progress was measured: bytes the peer acknowledged (`'kernel'`) or bytes Node handed over (`'node'`). */
  progress: Progress;
  /** The kernel's view of the connection (TCP_INFO) when it was read for this timeout, else undefined. */
  kernel: KernelView | undefined;
}

/** Write progress: bytes the peer acknowledged (TCP_INFO) or bytes Node handed to the kernel. */
export type Progress = 'kernel' | 'node';

/** What the kernel knew about the connection (Linux TCP_INFO); each field only where it was given. */
export interface KernelView {
  /** TCP state, e.g. 'ESTABLISHED'. */
  state: string;
  /** Smoothed round-trip time, ms. */
  rttMs?: number;
  /** Retransmissions in the current run, and over the connection's life. */
  retransmits?: number;
  totalRetrans?: number;
  /** Segments sent and not yet acknowledged. */
  unackedSegments?: number;
  /** Bytes the peer acknowledged since the connection opened. */
  bytesAcked?: number;
  /** Bytes in the kernel's send queue (sent but unacknowledged, and not yet sent). */
  queuedBytes?: number;
  /** The peer's advertised receive window, bytes: 0 is a peer that stopped reading. */
  peerWindow?: number;
  /** Zero-window (or keepalive) probes sent and unanswered. */
  probes?: number;
}

const DESCRIBE: Record<TimeoutReason, string> = {
  'first-byte': 'no byte received within',
  'read-idle': 'too little received for',
  paused: 'reading paused for more than',
  'write-stall': 'writes made too little progress for',
  'half-closed': 'peer sent FIN and the socket was still open after',
  'max-age': 'connection older than',
};

/** The kernel's view in one clause, for messages: why, without a packet capture. */
export function describeKernel(k: KernelView): string {
  const parts: string[] = [k.state];
  if (k.peerWindow === 0) {
    const probes = k.probes ? `${k.probes} probes unanswered` : 'it stopped reading';
    parts.push(`peer advertises a zero window (${probes})`);
  } else if (k.peerWindow !== undefined) parts.push(`peer window ${k.peerWindow} B`);
  if (k.bytesAcked !== undefined) parts.push(`${k.bytesAcked} B acknowledged`);
  if (k.queuedBytes !== undefined) parts.push(`${k.queuedBytes} B in the kernel send queue`);
  if (k.unackedSegments !== undefined) parts.push(`${k.unackedSegments} segments unacknowledged`);
  if (k.rttMs !== undefined) parts.push(`rtt ${k.rttMs} ms`);
  if (k.retransmits !== undefined) {
    parts.push(`${k.retransmits} retransmits now (${k.totalRetrans ?? 0} in all)`);
  }
  return parts.join(', ');
}

/**
 * The error a guarded socket is destroyed with (the package's one error class; it carries a
 * stable `code` per deadline: match on `code`).
 */
export class IdleTimeoutError extends HalfopenError implements TimeoutInfo {
  override name = 'IdleTimeoutError';
  readonly reason: TimeoutReason;
  declare readonly code: TimeoutCode;
  readonly limitMs: number;
  readonly elapsedMs: number;
  readonly count: number;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly pendingBytes: number;
  readonly progress: Progress;
  readonly kernel: KernelView | undefined;

  constructor(info: TimeoutInfo) {
    const peer = info.remoteAddress ? `${info.remoteAddress}:${info.remotePort}` : 'unknown peer';
    super(
      info.code,
      `${DESCRIBE[info.reason]} ${info.limitMs} ms (elapsed ${Math.round(info.elapsedMs)} ms) on connection to ${peer}; read ${info.bytesRead} B, written ${info.bytesWritten} B${info.pendingBytes ? `, ${info.pendingBytes} B pending` : ''}${info.kernel ? `; kernel: ${describeKernel(info.kernel)}` : ''}`,
    );
    this.reason = info.reason;
    this.limitMs = info.limitMs;
    this.elapsedMs = info.elapsedMs;
    this.count = info.count;
    this.remoteAddress = info.remoteAddress;
    this.remotePort = info.remotePort;
    this.bytesRead = info.bytesRead;
    this.bytesWritten = info.bytesWritten;
    this.pendingBytes = info.pendingBytes;
    this.progress = info.progress;
    this.kernel = info.kernel;
  }
}
