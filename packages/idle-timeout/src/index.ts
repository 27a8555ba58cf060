import type * as net from 'node:net';
import { SocketGuard } from './guard.js';
import { type GuardOptions, toPolicy } from './options.js';
import { type ConnectionSource, ServerGuard } from './server.js';

export { channels } from './diagnostics.js';
export {
  CODES,
  IdleTimeoutError,
  type KernelView,
  type Progress,
  type TimeoutCode,
  type TimeoutInfo,
  type TimeoutReason,
} from './errors.js';
export { SocketGuard, type SocketGuardStats } from './guard.js';
export type { GuardOptions, TimeoutAction } from './options.js';
export {
  type ConnectionSource,
  ServerGuard,
  type ServerGuardEvents,
  type ServerGuardStats,
} from './server.js';

/**
 * Puts deadlines on one socket (net.Socket or tls.TLSSocket). When one passes, the socket is
 * destroyed with an IdleTimeoutError naming it, unless `onTimeout` says `'ignore'`.
 * Options are checked first: a bad one throws a TypeError/RangeError naming it.
 */
export function guardSocket(socket: net.Socket, options?: GuardOptions): SocketGuard {
  if (!socket || typeof socket.destroy !== 'function' || typeof socket.on !== 'function') {
    throw new TypeError('guardSocket(socket): socket must be a net.Socket or tls.TLSSocket');
  }
  return new SocketGuard(socket, toPolicy(options));
}

/** Guards every connection `server` accepts with the same deadlines (see guardSocket). */
export function guardServer(server: ConnectionSource, options?: GuardOptions): ServerGuard {
  return new ServerGuard(server, options);
}
