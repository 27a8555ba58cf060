import type * as net from 'node:net';
import { Readable } from 'node:stream';
import { callUser, describe, publish } from '@halfopen/internal';
import { channels } from './diagnostics.js';
import {
  CODES,
  IdleTimeoutError,
  type KernelView,
  type Progress,
  type TimeoutInfo,
  type TimeoutReason,
} from './errors.js';
import { kernelAvailable, kernelView, readSendQueue, readTcpInfo, snapshot } from './kernel.js';
import type { Policy, TimeoutAction } from './options.js';
import { type TickHooks, type Wheel, wheelFor } from './wheel.js';

/** The parts of a socket's internals the guard reads (all present on net.Socket since Node 12). */
interface Handle {
  reading?: boolean;
  writeQueueSize?: number;
  bytesWritten?: number;
}
type ReadState = { ended?: boolean; paused?: boolean } & { [k: symbol]: unknown };
type GuardedSocket = net.Socket & {
  _handle?: Handle | null;
  _readableState?: ReadState;
};

// Whether pause() was called and not undone by resume(). Not `flowing === false` (nor
// isPaused(), which includes it): a 'readable' listener and async iteration set that for the
// stream's whole life while reading normally. Current Node keeps the flag behind
// `ReadableState#paused`; older Node's getter read true on a stream never paused nor resumed,
// and the flag itself is the `kPaused` symbol (null, true or false): read that one there.
let pausedKey: string | symbol | undefined;
function pausedByCall(rs: ReadState | undefined): boolean {
  if (rs === undefined) return false;
  if (pausedKey === undefined) {
    const fresh = (new Readable() as unknown as { _readableState: ReadState })._readableState;
    pausedKey =
      fresh.paused === false
        ? 'paused'
        : (Object.getOwnPropertySymbols(fresh).find((k) => k.description === 'kPaused') ??
          'paused');
  }
  return rs[pausedKey as symbol] === true;
}

/**
 * Whether the application reads: not paused with pause(), and the handle reads from the kernel
 * (it stops when the readable buffer is full: backpressure). pause() stops the application at
 * once while the handle keeps filling the buffer, so the handle alone would say so much later.
 */
function reads(s: GuardedSocket): boolean {
  const h = s._handle;
  return h ? h.reading !== false && !pausedByCall(s._readableState) : false;
}

// The guard of each socket, kept off the socket itself: adding a property to a socket changes
// its hidden class and slows Node's own hot paths on it.
const guards = new WeakMap<net.Socket, SocketGuard>();

/** Receives every timeout and the disposal of the guards it owns (a ServerGuard's, privately). */
export interface GuardOwner {
  timedOut(guard: SocketGuard, info: TimeoutInfo, action: TimeoutAction): void;
  disposed(guard: SocketGuard): void;
}

/** A snapshot of one guarded socket. */
export interface SocketGuardStats {
  ageMs: number;
  bytesRead: number;
  bytesWritten: number;
  /** Bytes waiting to be sent: Node's queue, plus the kernel's send queue with kernel progress. */
  pendingBytes: number;
  /** Whether the application reads: false while paused (`pause()`, backpressure). */
  reading: boolean;
  /** How long the current read-idle window has run (paused time excluded). */
  readIdleForMs: number;
  /** How long writes have waited with too little progress. */
  writeStalledForMs: number;
  /** How long since the peer's FIN, or 0. */
  halfClosedForMs: number;
  /** The jittered lifetime cap in force, or 0. */
  maxAgeMs: number;
  /** The write-stall window in force (with Node-view progress, plus the kernel burst allowance), or 0. */
  writeWindowMs: number;
  /** How write progress is measured on this socket. */
  progress: Progress;
  /** The kernel's view (rtt, retransmits, unacked, peer window) when it can be read, else undefined. */
  kernel: KernelView | undefined;
  /** The timeout that destroyed the socket, if one did. */
  destroyedBy: TimeoutInfo | undefined;
  disposed: boolean;
}

function onSocketClose(this: net.Socket): void {
  guards.get(this)?.dispose();
}

function reportError(error: unknown, during: string, socket?: net.Socket): void {
  publish(channels.error, { error, during, socket });
}

let hooks: TickHooks<SocketGuard>;

// How write progress is measured on a socket: not decided yet (nothing pending so far, or still
// connecting), bytes the peer acknowledged (TCP_INFO), or bytes Node handed to the kernel.
const UNDECIDED = 0;
const KERNEL = 1;
const NODE = 2;
// What the kernel write check did: nothing to say, fired, or could not read the kernel.
const WRITES_OK = 0;
const WRITES_FIRED = 1;
const WRITES_NO_KERNEL = 2;

/** Deadlines on one socket. Create with `guardSocket`; disposing it removes everything it armed. */
export class SocketGuard implements Disposable {
  readonly socket: net.Socket;
  #slot = -1;
  readonly #policy: Policy;
  readonly #wheel: Wheel<SocketGuard>;
  readonly #owner: GuardOwner | undefined;
  #startedAt: number;
  #lastTick: number;
  #firstByteStart: number;
  #firstByteAt: number; // bytesRead at start, -1 once a byte arrived
  #readBytesAt = 0;
  #readWindowStart: number;
  // Whether a pause or a FIN was seen is kept apart from when: times may be negative after a
  // rebase, so no time value can mean "never".
  #paused = false;
  #pausedSince = 0;
  #ended = false;
  #endedAt = 0;
  #writeBytesAt = 0;
  #writeWindowStart: number;
  #progress: number;
  // The kernel's send queue when last read; -1 until first read, so bytes written before the
  // socket was guarded and still unacknowledged are seen on the first tick.
  #kernelQueued = -1;
  #handleWritten: number; // the handle's bytesWritten when the kernel was last read
  #maxAgeAt: number;
  readonly #maxAgeLimit: number;
  #counts: Partial<Record<TimeoutReason, number>> | undefined;
  #destroyedBy: TimeoutInfo | undefined;

  static {
    hooks = {
      slot: (g) => g.#slot,
      setSlot: (g, slot) => {
        g.#slot = slot;
      },
      check: (g, now) => g.#check(now),
      rebase: (g, by) => g.#rebase(by),
      fail: (g, error) => {
        reportError(error, 'check', g.socket);
        g.dispose();
      },
    };
  }

  /** @internal use guardSocket / guardServer */
  constructor(socket: net.Socket, policy: Policy, owner?: GuardOwner) {
    const s = socket as GuardedSocket;
    this.socket = socket;
    this.#policy = policy;
    this.#owner = owner;
    this.#wheel = wheelFor(policy.now, policy.resolutionMs, hooks);
    const now = this.#wheel.time();
    this.#startedAt =
      this.#lastTick =
      this.#firstByteStart =
      this.#readWindowStart =
      this.#writeWindowStart =
        now;
    this.#firstByteAt = this.#readBytesAt = s.bytesRead ?? 0;
    this.#progress = policy.writeStallMs > 0 && kernelAvailable() ? UNDECIDED : NODE;
    this.#handleWritten = s._handle?.bytesWritten ?? 0;
    this.#maxAgeLimit =
      policy.maxAgeMs > 0
        ? Math.round(policy.maxAgeMs * (1 - policy.maxAgeJitter * jitter(policy, socket)))
        : 0;
    this.#maxAgeAt = now + this.#maxAgeLimit;
    if (s.destroyed) return; // nothing to guard; the guard is born disposed
    guards.get(socket)?.dispose(); // a socket has one guard: the newest replaces the previous
    guards.set(socket, this);
    s.on('close', onSocketClose);
    this.#wheel.add(this);
  }

  /** True once disposed (explicitly, by a timeout, or because the socket closed). */
  get disposed(): boolean {
    return this.#slot < 0;
  }

  /** Called by the wheel on every tick. */
  #check(now: number): void {
    const s = this.socket as GuardedSocket;
    const p = this.#policy;
    const h = s._handle;
    const bytesRead = s.bytesRead ?? 0;
    const reading = reads(s);
    const ended = s._readableState?.ended === true;
    const since = this.#lastTick;
    this.#lastTick = now;

    if (this.#firstByteAt >= 0) {
      if (bytesRead > this.#firstByteAt) this.#firstByteAt = -1;
      else if (p.firstByteMs > 0 && now - this.#firstByteStart >= p.firstByteMs) {
        this.#fire('first-byte', p.firstByteMs, now - this.#firstByteStart, now, 0);
        return;
      }
    }

    if (!ended && (p.readIdleMs > 0 || p.pausedMaxMs > 0)) {
      if (!reading) {
        // An interval paused at both ends does not count as idle.
        if (!this.#paused) {
          this.#paused = true;
          this.#pausedSince = now;
        } else this.#readWindowStart += now - since;
      }
      if (bytesRead - this.#readBytesAt >= p.minReadBytes) {
        this.#readBytesAt = bytesRead;
        this.#readWindowStart = now;
        if (this.#counts) this.#counts['read-idle'] = 0;
      }
      if (!reading) {
        if (p.pausedMaxMs > 0 && now - this.#pausedSince >= p.pausedMaxMs) {
          this.#fire('paused', p.pausedMaxMs, now - this.#pausedSince, now, 0);
          return;
        }
      } else {
        if (this.#paused && this.#counts) this.#counts.paused = 0;
        this.#paused = false;
        if (p.readIdleMs > 0 && now - this.#readWindowStart >= p.readIdleMs) {
          this.#fire('read-idle', p.readIdleMs, now - this.#readWindowStart, now, 0);
          return;
        }
      }
    }

    if (p.writeStallMs > 0) {
      const kernel = this.#progress === NODE ? WRITES_NO_KERNEL : this.#kernelWrites(now, h);
      if (kernel === WRITES_FIRED) return;
      if (kernel === WRITES_NO_KERNEL) {
        const pending = h?.writeQueueSize ?? 0;
        const delivered = (h?.bytesWritten ?? 0) - pending;
        if (pending === 0 || delivered - this.#writeBytesAt >= p.minWriteBytes) {
          this.#writeBytesAt = delivered;
          this.#writeWindowStart = now;
          if (this.#counts) this.#counts['write-stall'] = 0;
        } else if (now - this.#writeWindowStart >= p.writeWindowMs) {
          this.#fire('write-stall', p.writeWindowMs, now - this.#writeWindowStart, now, pending);
          return;
        }
      }
    }

    if (ended) {
      if (!this.#ended) {
        this.#ended = true;
        this.#endedAt = now;
      }
      if (p.halfClosedMs > 0 && now - this.#endedAt >= p.halfClosedMs) {
        this.#fire('half-closed', p.halfClosedMs, now - this.#endedAt, now, 0);
        return;
      }
    }

    if (p.maxAgeMs > 0 && now >= this.#maxAgeAt) {
      this.#fire('max-age', this.#maxAgeLimit, now - this.#startedAt, now, 0);
    }
  }

  /**
   * Write progress as the kernel sees it: bytes the peer acknowledged, against what is still
   * queued (Node's queue and the kernel's send queue). No burst allowance is needed: the
   * counter moves with every ACK. The kernel is read only while something may be pending:
   * Node's queue is not empty, the kernel's was not when last read (or was never read), or
   * Node handed it bytes.
   */
  #kernelWrites(now: number, h: Handle | null | undefined): number {
    const p = this.#policy;
    const nodeQueued = h?.writeQueueSize ?? 0;
    const written = h?.bytesWritten ?? 0;
    if (nodeQueued === 0 && this.#kernelQueued === 0 && written === this.#handleWritten) {
      this.#writeWindowStart = now;
      if (this.#counts) this.#counts['write-stall'] = 0;
      return WRITES_OK;
    }
    const info = readTcpInfo(this.socket);
    if (info === null) return WRITES_NO_KERNEL; // connecting: Node's view until connected
    if (info === undefined || info.bytesAcked === undefined) {
      this.#progress = NODE;
      return WRITES_NO_KERNEL;
    }
    const acked = info.bytesAcked;
    if (this.#progress === UNDECIDED) {
      this.#progress = KERNEL;
      this.#writeBytesAt = acked;
      this.#writeWindowStart = now;
    }
    // Nothing unacknowledged and nothing unsent: the send queue is empty, no ioctl needed.
    const queued =
      info.unackedSegments === 0 && info.notSentBytes === 0 ? 0 : readSendQueue(this.socket);
    this.#kernelQueued = queued;
    this.#handleWritten = written;
    const pending = nodeQueued + queued;
    if (pending === 0 || acked - this.#writeBytesAt >= p.minWriteBytes) {
      this.#writeBytesAt = acked;
      this.#writeWindowStart = now;
      if (this.#counts) this.#counts['write-stall'] = 0;
    } else if (now - this.#writeWindowStart >= p.writeStallMs) {
      const k = kernelView(info, queued);
      this.#fire('write-stall', p.writeStallMs, now - this.#writeWindowStart, now, pending, k);
      return WRITES_FIRED;
    }
    return WRITES_OK;
  }

  #fire(
    reason: TimeoutReason,
    limitMs: number,
    elapsedMs: number,
    now: number,
    pendingBytes: number,
    kernel = snapshot(this.socket),
  ): void {
    const s = this.socket;
    this.#counts ??= {};
    const count = (this.#counts[reason] ?? 0) + 1;
    this.#counts[reason] = count;
    const info: TimeoutInfo = {
      reason,
      code: CODES[reason],
      limitMs,
      elapsedMs,
      count,
      remoteAddress: s.remoteAddress,
      remotePort: s.remotePort,
      bytesRead: s.bytesRead ?? 0,
      bytesWritten: s.bytesWritten ?? 0,
      pendingBytes,
      progress: this.#progress === KERNEL ? 'kernel' : 'node',
      kernel,
    };
    const onTimeout = this.#policy.onTimeout;
    // A throwing or rejecting callback is reported and means destroy: it must not keep a dead
    // socket alive, re-fire every tick or stop the other guards being checked.
    const action: TimeoutAction =
      onTimeout &&
      callUser(onTimeout, [info, s], (e) => reportError(e, 'onTimeout', s)) === 'ignore'
        ? 'ignore'
        : 'destroy';
    publish(channels.timeout, { info, socket: s, action });
    this.#owner?.timedOut(this, info, action);
    if (action === 'ignore') {
      this.#rearm(reason, now);
      return;
    }
    this.#destroyedBy = info;
    this.dispose();
    // Destroying with an error emits 'error'; only do so when someone listens, so a guard
    // never turns a timeout into an uncaught exception. The reason stays visible either way.
    s.destroy(s.listenerCount('error') > 0 ? new IdleTimeoutError(info) : undefined);
  }

  #rearm(reason: TimeoutReason, now: number): void {
    if (reason === 'first-byte') this.#firstByteStart = now;
    else if (reason === 'read-idle') this.#readWindowStart = now;
    else if (reason === 'paused') this.#pausedSince = now;
    else if (reason === 'write-stall') this.#writeWindowStart = now;
    else if (reason === 'half-closed') this.#endedAt = now;
    else this.#maxAgeAt = now + this.#maxAgeLimit;
  }

  /** The wheel's epoch moved forward by `by`: every time shifts back by as much. */
  #rebase(by: number): void {
    this.#startedAt -= by;
    this.#lastTick -= by;
    this.#firstByteStart -= by;
    this.#readWindowStart -= by;
    this.#writeWindowStart -= by;
    this.#pausedSince -= by;
    this.#endedAt -= by;
    this.#maxAgeAt -= by;
  }

  stats(): SocketGuardStats {
    const now = this.#wheel.time();
    const s = this.socket as GuardedSocket;
    const h = s._handle;
    const p = this.#policy;
    const kernel = this.disposed ? undefined : snapshot(s);
    const byKernel =
      this.#progress === KERNEL ||
      (this.#progress === UNDECIDED && kernel?.bytesAcked !== undefined);
    const pending = (h?.writeQueueSize ?? 0) + (byKernel ? (kernel?.queuedBytes ?? 0) : 0);
    return {
      ageMs: now - this.#startedAt,
      bytesRead: s.bytesRead ?? 0,
      bytesWritten: s.bytesWritten ?? 0,
      pendingBytes: pending,
      reading: reads(s),
      readIdleForMs: p.readIdleMs > 0 ? now - this.#readWindowStart : 0,
      writeStalledForMs: pending > 0 && p.writeStallMs > 0 ? now - this.#writeWindowStart : 0,
      halfClosedForMs: this.#ended ? now - this.#endedAt : 0,
      maxAgeMs: this.#maxAgeLimit,
      writeWindowMs: byKernel ? p.writeStallMs : p.writeWindowMs,
      progress: byKernel ? 'kernel' : 'node',
      kernel,
      destroyedBy: this.#destroyedBy,
      disposed: this.disposed,
    };
  }

  /**
   * Starts the read-idle window over from now, as if a byte had just arrived: for a connection
   * idle by design (pooled) that is handed to a new exchange. Does nothing once disposed.
   */
  resetReadIdle(): void {
    if (this.#slot < 0) return;
    this.#readWindowStart = this.#wheel.time();
    this.#readBytesAt = this.socket.bytesRead ?? 0;
    if (this.#counts) this.#counts['read-idle'] = 0;
  }

  /** Stops guarding: clears the deadlines and removes the guard's listener. Idempotent. */
  dispose(): void {
    if (this.#slot < 0) return;
    this.#wheel.remove(this);
    const s = this.socket as GuardedSocket;
    s.removeListener('close', onSocketClose);
    if (guards.get(s) === this) guards.delete(s);
    this.#owner?.disposed(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** One draw of `random` for the max-age jitter; a source that fails counts as 0 and is reported. */
function jitter(policy: Policy, socket: net.Socket): number {
  if (policy.maxAgeJitter === 0) return 0;
  const r = callUser(policy.random, [], (e) => reportError(e, 'random', socket));
  if (typeof r === 'number' && r >= 0 && r <= 1) return r;
  if (r !== undefined) {
    reportError(
      new RangeError(`options.random returned ${describe(r)}, not within 0..1`),
      'random',
      socket,
    );
  }
  return 0;
}
