import type * as net from 'node:net';
import { callUser, publish } from '@halfopen/internal';
import { channels } from './diagnostics.js';
import type { TimeoutReason } from './errors.js';
import { type GuardOwner, SocketGuard } from './guard.js';
import { type GuardOptions, type Policy, toPolicy } from './options.js';

/** Anything that emits 'connection' with a socket: net.Server, tls.Server, http(s).Server. */
export interface ConnectionSource {
  on(event: 'connection', listener: (socket: net.Socket) => void): unknown;
  removeListener(event: 'connection', listener: (socket: net.Socket) => void): unknown;
}

export interface ServerGuardEvents {
  /** A new connection is guarded (its raw TCP socket, also for TLS and HTTPS servers). */
  guard: [guard: SocketGuard];
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

type GuardListener = (guard: SocketGuard) => void;

/**
 * Guards every connection a server accepts with the same deadlines. Timeouts are observed (and
 * decided) through `options.onTimeout`; `on('guard')` hands over each new connection's guard.
 */
export class ServerGuard implements Disposable {
  readonly #policy: Policy;
  readonly #server: ConnectionSource;
  // Its own guards only: dispose() walks these, never the other servers' on the same wheel.
  readonly #guards = new Set<SocketGuard>();
  #guarded = 0;
  #ignored = 0;
  readonly #destroyed = zero();
  #closed = false;
  #listeners: GuardListener[] = [];
  readonly #owner: GuardOwner = {
    timedOut: (_guard, info, action) => {
      if (action === 'ignore') this.#ignored++;
      else this.#destroyed[info.reason]++;
    },
    disposed: (guard) => {
      this.#guards.delete(guard);
    },
  };
  readonly #onConnection = (socket: net.Socket): void => {
    this.#guarded++;
    const guard = new SocketGuard(socket, this.#policy, this.#owner);
    if (!guard.disposed) this.#guards.add(guard);
    for (const fn of this.#listeners) {
      callUser(fn, [guard], (error) => publish(channels.error, { error, during: 'guard', socket }));
    }
  };

  /** @internal use guardServer */
  constructor(server: ConnectionSource, options: GuardOptions | undefined) {
    if (!server || typeof server.on !== 'function' || typeof server.removeListener !== 'function') {
      throw new TypeError('guardServer(server): server must be a net, tls, http or https Server');
    }
    this.#policy = toPolicy(options);
    this.#server = server;
    server.on('connection', this.#onConnection);
  }

  /**
   * Calls `fn(guard)` for each connection guarded from now on. A listener that throws is
   * reported on `halfopen:idle-timeout:error`; the connection stays guarded.
   */
  on<E extends keyof ServerGuardEvents>(
    event: E,
    fn: (...args: ServerGuardEvents[E]) => void,
  ): this {
    if (event !== 'guard') {
      throw new TypeError(
        `ServerGuard emits 'guard' only, not ${String(event)} (timeouts: options.onTimeout)`,
      );
    }
    if (typeof fn !== 'function')
      throw new TypeError('ServerGuard.on(event, fn): fn must be a function');
    this.#listeners = [...this.#listeners, fn];
    return this;
  }

  off<E extends keyof ServerGuardEvents>(
    event: E,
    fn: (...args: ServerGuardEvents[E]) => void,
  ): this {
    if (event === 'guard') this.#listeners = this.#listeners.filter((f) => f !== fn);
    return this;
  }

  stats(): ServerGuardStats {
    return {
      active: this.#guards.size,
      guarded: this.#guarded,
      destroyed: { ...this.#destroyed },
      ignored: this.#ignored,
    };
  }

  /** Stops guarding new connections and disposes the guards of open ones (sockets stay open). */
  dispose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.removeListener('connection', this.#onConnection);
    this.#listeners = [];
    for (const g of [...this.#guards]) g.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
