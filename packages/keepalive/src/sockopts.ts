// Temporary: the @halfopen/sockopt contract over this package's old addon, until
// @halfopen/sockopt lands. Only what keepalive uses.
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { HalfopenError } from '@halfopen/internal';

export interface Sockopts {
  keepAlive: boolean;
  idleMs: number;
  intervalMs: number;
  count: number;
  userTimeoutMs: number;
}
interface Native {
  set(fd: number, ka: number, idle: number, intvl: number, cnt: number, ut: number): void;
  get(fd: number): {
    keepalive: number;
    idle: number;
    interval: number;
    count: number;
    userTimeout: number;
  };
}
export class SockoptError extends HalfopenError {}

let native: Native | null | undefined;
let reason: string | undefined;
function load(): Native | null {
  if (native === undefined) {
    try {
      native = createRequire(import.meta.url)('../build/Release/sockopt.node') as Native;
    } catch (err) {
      native = null;
      reason = (err as Error).message;
    }
  }
  return native;
}
export function support() {
  const n = load();
  return {
    native: !!n,
    ...(n ? {} : { reason }),
    platform: `${process.platform}-${process.arch}`,
    sockopts: !!n,
    userTimeout: !!n,
    tcpInfo: false,
  };
}
function fd(socket: Socket): number {
  const h = (socket as unknown as { _handle?: { fd?: number } | null })._handle;
  if (socket.destroyed || typeof h?.fd !== 'number' || h.fd < 0)
    throw new SockoptError('HALFOPEN_ERR_SOCKET_DESTROYED', 'the socket has no file descriptor');
  return h.fd;
}
export function getSockopts(socket: Socket): Sockopts {
  const n = load();
  if (!n) throw new SockoptError('HALFOPEN_ERR_SOCKOPT_UNSUPPORTED', `no native part: ${reason}`);
  const g = n.get(fd(socket));
  return {
    keepAlive: g.keepalive !== 0,
    idleMs: g.idle * 1000,
    intervalMs: g.interval * 1000,
    count: g.count,
    userTimeoutMs: g.userTimeout,
  };
}
export function setSockopts(socket: Socket, o: Partial<Sockopts>): Sockopts {
  const n = load();
  if (!n) throw new SockoptError('HALFOPEN_ERR_SOCKOPT_UNSUPPORTED', `no native part: ${reason}`);
  const sec = (v: number | undefined) => (v === undefined ? -1 : Math.ceil(v / 1000));
  const f = fd(socket);
  try {
    n.set(
      f,
      o.keepAlive === undefined ? -1 : o.keepAlive ? 1 : 0,
      sec(o.idleMs),
      sec(o.intervalMs),
      o.count ?? -1,
      o.userTimeoutMs ?? -1,
    );
  } catch (err) {
    throw new SockoptError('HALFOPEN_ERR_SOCKOPT_FAILED', (err as Error).message, { cause: err });
  }
  return getSockopts(socket);
}
