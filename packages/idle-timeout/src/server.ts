import type net from 'node:net';
import { EventEmitter } from 'eventemitter3';
import type { TimeoutInfo, TimeoutReason } from './errors.js';
import { type GuardOwner, SocketGuard } from './guard.js';
import { type GuardOptions, type Policy, type TimeoutAction, toPolicy } from './options.js';
import { wheelFor } from './wheel.js';

/** Anything that emits 'connection' with a socket: net.Server, tls.Server, http(s).Server. */
export interface ConnectionSource {
  on(event: 'connection', listener: (socket: net.Socket) => void): unknown;
  removeListener(event: 'connection', listener: (socket: net.Socket) => void): unknown;
}

export interface ServerGuardEvents {
  /** A new connection is guarded (its raw TCP socket, also for TLS and HTTPS servers). */
  guard: [guard: SocketGuard];
  /** A deadline passed on one of the server's sockets. */
  timeout: [info: TimeoutInfo, action: TimeoutAction, socket: net.Socket];
}

export interface ServerGuardStats {
  /** Guarded sockets open now. */
  active: number;
  /** Sockets guarded since the guard started. */
  guarded: number;
  /** Sockets destroyed, per deadline. */
  destroyed: Record<TimeoutReason, number>;
  /** Timeouts `onTimeout` chose to ignore. */
  ignored: number;
}

const zero = (): Record<TimeoutReason, number> => ({
  'first-byte': 0,
  'read-idle': 0,
  paused: 0,
  'write-stall': 0,
  'half-closed': 0,
  'max-age': 0,
});

/** Guards every connection a server accepts with the same deadlines. */
export class ServerGuard extends EventEmitter<ServerGuardEvents> implements GuardOwner, Disposable {
  private readonly policy: Policy;
  private readonly server: ConnectionSource;
  private active = 0;
  private guarded = 0;
  private ignored = 0;
  private readonly destroyed = zero();
  private closed = false;
  private readonly onConnection = (socket: net.Socket) => {
    this.guarded++;
    const guard = new SocketGuard(socket, this.policy, this);
    if (!guard.disposed) this.active++;
    this.emit('guard', guard);
  };

  /** @internal use guardServer */
  constructor(server: ConnectionSource, options: GuardOptions) {
    super();
    if (!server || typeof server.on !== 'function' || typeof server.removeListener !== 'function') {
      throw new TypeError('guardServer(server): server must be a net, tls, http or https Server');
    }
    this.policy = toPolicy(options);
    this.server = server;
    server.on('connection', this.onConnection);
  }

  /** @internal */
  onGuardTimeout(guard: SocketGuard, info: TimeoutInfo, action: TimeoutAction): void {
    if (action === 'ignore') this.ignored++;
    else this.destroyed[info.reason]++;
    this.emit('timeout', info, action, guard.socket);
  }

  /** @internal */
  onGuardDispose(): void {
    this.active--;
  }

  stats(): ServerGuardStats {
    return {
      active: this.active,
      guarded: this.guarded,
      destroyed: { ...this.destroyed },
      ignored: this.ignored,
    };
  }

  /** Stops guarding new connections and disposes the guards of open ones (sockets stay open). */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.removeListener('connection', this.onConnection);
    const wheel = wheelFor(this.policy.now, this.policy.resolutionMs);
    for (let i = wheel.guards.length - 1; i >= 0; i--) {
      const g = wheel.guards[i];
      if (g instanceof SocketGuard && g.owner === this) g.dispose();
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
