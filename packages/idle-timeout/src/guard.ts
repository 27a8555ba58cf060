import type net from 'node:net';
import { EventEmitter } from 'eventemitter3';
import { channels } from './diagnostics.js';
import { CODES, IdleTimeoutError, type TimeoutInfo, type TimeoutReason } from './errors.js';
import type { Policy, TimeoutAction } from './options.js';
import { type Ticking, type Wheel, wheelFor } from './wheel.js';

/** The parts of a socket's internals the guard reads (all present on net.Socket since Node 12). */
interface Handle {
  reading?: boolean;
  writeQueueSize?: number;
  bytesWritten?: number;
}
type GuardedSocket = net.Socket & {
  _handle?: Handle | null;
  _readableState?: { ended?: boolean };
};

// The guard of each socket, kept off the socket itself: adding a property to a socket changes
// its hidden class and slows Node's own hot paths on it.
const guards = new WeakMap<net.Socket, SocketGuard>();
const NEVER = -1;

/** Receives every timeout of the guards it owns (a ServerGuard). */
export interface GuardOwner {
  onGuardTimeout(guard: SocketGuard, info: TimeoutInfo, action: TimeoutAction): void;
  onGuardDispose(guard: SocketGuard): void;
}

export interface SocketGuardEvents {
  /** A deadline passed; `action` is what happens next. */
  timeout: [info: TimeoutInfo, action: TimeoutAction];
}

/** A snapshot of one guarded socket. */
export interface SocketGuardStats {
  ageMs: number;
  bytesRead: number;
  bytesWritten: number;
  /** Bytes the kernel has not accepted yet. */
  pendingBytes: number;
  /** Whether the socket is reading from the kernel (false while paused). */
  reading: boolean;
  /** How long the current read-idle window has run (paused time excluded). */
  readIdleForMs: number;
  /** How long writes have waited with too little progress. */
  writeStalledForMs: number;
  /** How long since the peer's FIN, or 0. */
  halfClosedForMs: number;
  /** The jittered lifetime cap in force, or 0. */
  maxAgeMs: number;
  /** The effective write-stall window (writeStallMs plus the kernel burst allowance), or 0. */
  writeWindowMs: number;
  /** The timeout that destroyed the socket, if one did. */
  destroyedBy: TimeoutInfo | undefined;
  disposed: boolean;
}

function onSocketClose(this: net.Socket): void {
  guards.get(this)?.dispose();
}

/** Deadlines on one socket. Create with `guardSocket`; disposing it removes everything it armed. */
export class SocketGuard implements Ticking, Disposable {
  slot = -1;
  readonly socket: net.Socket;
  private readonly policy: Policy;
  private readonly wheel: Wheel;
  /** @internal */
  readonly owner: GuardOwner | undefined;
  private startedAt: number;
  private lastTick: number;
  private firstByteStart: number;
  private firstByteAt: number; // bytesRead at start, -1 once a byte arrived
  private readBytesAt = 0;
  private readWindowStart: number;
  private pausedSince = NEVER;
  private writeBytesAt = 0;
  private writeWindowStart: number;
  private endedAt = NEVER;
  private maxAgeAt: number;
  private readonly maxAgeLimit: number;
  private counts: Partial<Record<TimeoutReason, number>> | undefined;
  private destroyedBy: TimeoutInfo | undefined;
  private events: EventEmitter<SocketGuardEvents> | undefined; // created on first listener

  /** @internal use guardSocket / guardServer */
  constructor(socket: net.Socket, policy: Policy, owner?: GuardOwner) {
    const s = socket as GuardedSocket;
    this.socket = socket;
    this.policy = policy;
    this.owner = owner;
    this.wheel = wheelFor(policy.now, policy.resolutionMs);
    const now = this.wheel.time();
    this.startedAt =
      this.lastTick =
      this.firstByteStart =
      this.readWindowStart =
      this.writeWindowStart =
        now;
    this.firstByteAt = this.readBytesAt = s.bytesRead ?? 0;
    this.maxAgeLimit =
      policy.maxAgeMs > 0
        ? Math.round(policy.maxAgeMs * (1 - policy.maxAgeJitter * policy.random()))
        : NEVER;
    this.maxAgeAt = policy.maxAgeMs > 0 ? now + this.maxAgeLimit : NEVER;
    if (s.destroyed) return; // nothing to guard; the guard is born disposed
    guards.get(socket)?.dispose(); // a socket has one guard: the newest replaces the previous
    guards.set(socket, this);
    s.on('close', onSocketClose);
    this.wheel.add(this);
  }

  /** True once disposed (explicitly, by a timeout, or because the socket closed). */
  get disposed(): boolean {
    return this.slot < 0;
  }

  /** @internal called by the wheel on every tick */
  check(now: number): void {
    const s = this.socket as GuardedSocket;
    const p = this.policy;
    const h = s._handle;
    const bytesRead = s.bytesRead ?? 0;
    const reading = h ? h.reading !== false : false;
    const ended = s._readableState?.ended === true;
    const since = this.lastTick;
    this.lastTick = now;

    if (this.firstByteAt >= 0) {
      if (bytesRead > this.firstByteAt) this.firstByteAt = -1;
      else if (p.firstByteMs > 0 && now - this.firstByteStart >= p.firstByteMs) {
        this.fire('first-byte', p.firstByteMs, now - this.firstByteStart, now, 0);
        return;
      }
    }

    if (!ended && (p.readIdleMs > 0 || p.pausedMaxMs > 0)) {
      if (!reading) {
        // An interval paused at both ends does not count as idle.
        if (this.pausedSince === NEVER) this.pausedSince = now;
        else this.readWindowStart += now - since;
      }
      if (bytesRead - this.readBytesAt >= p.minReadBytes) {
        this.readBytesAt = bytesRead;
        this.readWindowStart = now;
        if (this.counts) this.counts['read-idle'] = 0;
      }
      if (!reading) {
        if (p.pausedMaxMs > 0 && now - this.pausedSince >= p.pausedMaxMs) {
          this.fire('paused', p.pausedMaxMs, now - this.pausedSince, now, 0);
          return;
        }
      } else {
        if (this.pausedSince !== NEVER && this.counts) this.counts.paused = 0;
        this.pausedSince = NEVER;
        if (p.readIdleMs > 0 && now - this.readWindowStart >= p.readIdleMs) {
          this.fire('read-idle', p.readIdleMs, now - this.readWindowStart, now, 0);
          return;
        }
      }
    }

    if (p.writeWindowMs > 0) {
      const pending = h?.writeQueueSize ?? 0;
      const delivered = (h?.bytesWritten ?? 0) - pending;
      if (pending === 0 || delivered - this.writeBytesAt >= p.minWriteBytes) {
        this.writeBytesAt = delivered;
        this.writeWindowStart = now;
        if (this.counts) this.counts['write-stall'] = 0;
      } else if (now - this.writeWindowStart >= p.writeWindowMs) {
        this.fire('write-stall', p.writeWindowMs, now - this.writeWindowStart, now, pending);
        return;
      }
    }

    if (ended) {
      if (this.endedAt === NEVER) this.endedAt = now;
      if (p.halfClosedMs > 0 && now - this.endedAt >= p.halfClosedMs) {
        this.fire('half-closed', p.halfClosedMs, now - this.endedAt, now, 0);
        return;
      }
    }

    if (this.maxAgeAt !== NEVER && now >= this.maxAgeAt) {
      this.fire('max-age', this.maxAgeLimit, now - this.startedAt, now, 0);
    }
  }

  private fire(
    reason: TimeoutReason,
    limitMs: number,
    elapsedMs: number,
    now: number,
    pendingBytes: number,
  ): void {
    const s = this.socket;
    this.counts ??= {};
    const count = (this.counts[reason] ?? 0) + 1;
    this.counts[reason] = count;
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
    };
    let action: TimeoutAction = 'destroy';
    if (this.policy.onTimeout) {
      try {
        action = this.policy.onTimeout(info) === 'ignore' ? 'ignore' : 'destroy';
      } catch {
        action = 'destroy'; // a throwing callback must not keep a dead socket alive
      }
    }
    if (channels.timeout.hasSubscribers) channels.timeout.publish({ info, socket: s, action });
    this.owner?.onGuardTimeout(this, info, action);
    this.events?.emit('timeout', info, action);
    if (action === 'ignore') {
      this.rearm(reason, now);
      return;
    }
    this.destroyedBy = info;
    this.dispose();
    // Destroying with an error emits 'error'; only do so when someone listens, so a guard
    // never turns a timeout into an uncaught exception. The reason stays visible either way.
    s.destroy(s.listenerCount('error') > 0 ? new IdleTimeoutError(info) : undefined);
  }

  private rearm(reason: TimeoutReason, now: number): void {
    if (reason === 'first-byte') this.firstByteStart = now;
    else if (reason === 'read-idle') this.readWindowStart = now;
    else if (reason === 'paused') this.pausedSince = now;
    else if (reason === 'write-stall') this.writeWindowStart = now;
    else if (reason === 'half-closed') this.endedAt = now;
    else this.maxAgeAt = now + this.maxAgeLimit;
  }

  /** @internal */
  rebase(by: number): void {
    this.startedAt -= by;
    this.lastTick -= by;
    this.firstByteStart -= by;
    this.readWindowStart -= by;
    this.writeWindowStart -= by;
    // Fields that use NEVER stay >= 0 when set (a pause or FIN older than the rebase counts from 0).
    if (this.pausedSince !== NEVER) this.pausedSince = Math.max(0, this.pausedSince - by);
    if (this.endedAt !== NEVER) this.endedAt = Math.max(0, this.endedAt - by);
    if (this.maxAgeAt !== NEVER) this.maxAgeAt = Math.max(0, this.maxAgeAt - by);
  }

  /** Listens for this guard's events (`timeout`). */
  on<E extends keyof SocketGuardEvents>(
    event: E,
    fn: (...args: SocketGuardEvents[E]) => void,
  ): this {
    this.events ??= new EventEmitter<SocketGuardEvents>();
    this.events.on(event, fn as never);
    return this;
  }

  off<E extends keyof SocketGuardEvents>(
    event: E,
    fn: (...args: SocketGuardEvents[E]) => void,
  ): this {
    this.events?.off(event, fn as never);
    return this;
  }

  stats(): SocketGuardStats {
    const now = this.wheel.time();
    const h = (this.socket as GuardedSocket)._handle;
    const pending = h?.writeQueueSize ?? 0;
    return {
      ageMs: now - this.startedAt,
      bytesRead: this.socket.bytesRead ?? 0,
      bytesWritten: this.socket.bytesWritten ?? 0,
      pendingBytes: pending,
      reading: h ? h.reading !== false : false,
      readIdleForMs: this.policy.readIdleMs > 0 ? now - this.readWindowStart : 0,
      writeStalledForMs:
        pending > 0 && this.policy.writeWindowMs > 0 ? now - this.writeWindowStart : 0,
      halfClosedForMs: this.endedAt === NEVER ? 0 : now - this.endedAt,
      maxAgeMs: this.maxAgeLimit === NEVER ? 0 : this.maxAgeLimit,
      writeWindowMs: this.policy.writeWindowMs,
      destroyedBy: this.destroyedBy,
      disposed: this.disposed,
    };
  }

  /** Stops guarding: clears the deadlines and removes the guard's listener. Idempotent. */
  dispose(): void {
    if (this.slot < 0) return;
    this.wheel.remove(this);
    const s = this.socket as GuardedSocket;
    s.removeListener('close', onSocketClose);
    if (guards.get(s) === this) guards.delete(s);
    this.owner?.onGuardDispose(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
