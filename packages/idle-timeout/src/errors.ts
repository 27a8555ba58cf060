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
  /** Bytes waiting to be sent (write stalls), 0 otherwise. */
  pendingBytes: number;
}

const DESCRIBE: Record<TimeoutReason, string> = {
  'first-byte': 'no byte received within',
  'read-idle': 'too little received for',
  paused: 'reading paused for more than',
  'write-stall': 'writes made too little progress for',
  'half-closed': 'peer sent FIN and the socket was still open after',
  'max-age': 'connection older than',
};

/** The error a guarded socket is destroyed with. */
export class IdleTimeoutError extends Error implements TimeoutInfo {
  override name = 'IdleTimeoutError';
  readonly reason: TimeoutReason;
  readonly code: TimeoutCode;
  readonly limitMs: number;
  readonly elapsedMs: number;
  readonly count: number;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  readonly pendingBytes: number;

  constructor(info: TimeoutInfo) {
    const peer = info.remoteAddress ? `${info.remoteAddress}:${info.remotePort}` : 'unknown peer';
    super(
      `${info.code}: ${DESCRIBE[info.reason]} ${info.limitMs} ms (elapsed ${Math.round(info.elapsedMs)} ms) on connection to ${peer}; read ${info.bytesRead} B, written ${info.bytesWritten} B${info.pendingBytes ? `, ${info.pendingBytes} B pending` : ''}`,
    );
    this.reason = info.reason;
    this.code = info.code;
    this.limitMs = info.limitMs;
    this.elapsedMs = info.elapsedMs;
    this.count = info.count;
    this.remoteAddress = info.remoteAddress;
    this.remotePort = info.remotePort;
    this.bytesRead = info.bytesRead;
    this.bytesWritten = info.bytesWritten;
    this.pendingBytes = info.pendingBytes;
  }
}
