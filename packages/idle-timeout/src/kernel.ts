// The kernel's view of a guarded socket, through @halfopen/sockopt (Linux TCP_INFO, SIOCOUTQ).
// Every call here is allowed to fail: a socket without a file descriptor, a platform without
// the native part, a kernel that refuses. Failure means "no kernel view", never a throw.
import type * as net from 'node:net';
import { sendQueueBytes, support, type TcpInfo, tcpInfo } from '@halfopen/sockopt';

export type { TcpInfo };
import type { KernelView } from './errors.js';

let available: boolean | undefined;
/** Whether TCP_INFO can be read in this process at all (asked once). */
export function kernelAvailable(): boolean {
  if (available === undefined) {
    try {
      available = support().tcpInfo === true;
    } catch {
      available = false;
    }
  }
  return available;
}

/**
 * TCP_INFO for the socket, or `undefined` (no native part, no descriptor, kernel refused).
 * `null` when the socket is still connecting and may have one later.
 */
export function readTcpInfo(socket: net.Socket): TcpInfo | undefined | null {
  try {
    return tcpInfo(socket);
  } catch {
    return socket.connecting === true && !socket.destroyed ? null : undefined;
  }
}

/** Bytes in the kernel's send queue (sent and unacknowledged, or not yet sent), or 0. */
export function readSendQueue(socket: net.Socket): number {
  try {
    return sendQueueBytes(socket) ?? 0;
  } catch {
    return 0;
  }
}

/** The fields a reader of a timeout needs, from TCP_INFO and the send queue. */
export function kernelView(info: TcpInfo, queuedBytes: number | undefined): KernelView {
  const k: KernelView = { state: info.state };
  if (info.rttUs !== undefined) k.rttMs = Math.round(info.rttUs / 100) / 10;
  if (info.retransmits !== undefined) k.retransmits = info.retransmits;
  if (info.totalRetrans !== undefined) k.totalRetrans = info.totalRetrans;
  if (info.unackedSegments !== undefined) k.unackedSegments = info.unackedSegments;
  if (info.bytesAcked !== undefined) k.bytesAcked = info.bytesAcked;
  if (queuedBytes !== undefined) k.queuedBytes = queuedBytes;
  if (info.peerWindow !== undefined) k.peerWindow = info.peerWindow;
  if (info.probes !== undefined) k.probes = info.probes;
  return k;
}

/** The kernel's view of the socket now, or undefined where it cannot be read. */
export function snapshot(socket: net.Socket): KernelView | undefined {
  if (!kernelAvailable()) return undefined;
  const info = readTcpInfo(socket);
  return info ? kernelView(info, readSendQueue(socket)) : undefined;
}
