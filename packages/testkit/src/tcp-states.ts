import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Kernel TCP states as /proc/net/tcp numbers them. */
export const TCP_STATES = [
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
] as const;
export type TcpState = (typeof TCP_STATES)[number];
export type TcpStateCounts = Record<TcpState, number>;

export interface TcpSocketRow {
  localPort: number;
  remotePort: number;
  state: TcpState;
  /** The socket's inode: matches a `socket:[inode]` link in some process's /proc/<pid>/fd. */
  inode: number;
}

/** Parses the text of /proc/net/tcp or /proc/net/tcp6. */
export function parseProcNetTcp(text: string): TcpSocketRow[] {
  const rows: TcpSocketRow[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const local = f[1]!.split(':');
    const remote = f[2]!.split(':');
    const state = TCP_STATES[Number.parseInt(f[3]!, 16) - 1];
    if (!state || local.length !== 2 || remote.length !== 2) continue;
    rows.push({
      localPort: Number.parseInt(local[1]!, 16),
      remotePort: Number.parseInt(remote[1]!, 16),
      state,
      inode: Number(f[9] ?? 0),
    });
  }
  return rows;
}

export interface CountOptions {
  /** Which end must be `port`: our listening/bound side, the peer's, or either. Default 'either'. */
  side?: 'local' | 'remote' | 'either';
}

/** Every TCP socket of this thread's network namespace (IPv4 and IPv6), from /proc. */
export function tcpSockets(): TcpSocketRow[] {
  const rows: TcpSocketRow[] = [];
  for (const file of ['/proc/thread-self/net/tcp', '/proc/thread-self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // no IPv6 in this kernel
    }
    rows.push(...parseProcNetTcp(text));
  }
  return rows;
}

/**
 * Counts this thread's network namespace's TCP sockets by state whose local or remote
 * port is `port` (IPv4 and IPv6); every socket when `port` is undefined.
 */
export function countTcpStates(port?: number, options: CountOptions = {}): TcpStateCounts {
  const side = options.side ?? 'either';
  const counts = Object.fromEntries(TCP_STATES.map((s) => [s, 0])) as TcpStateCounts;
  for (const row of tcpSockets()) {
    const hit =
      port === undefined ||
      (side !== 'remote' && row.localPort === port) ||
      (side !== 'local' && row.remotePort === port);
    if (hit) counts[row.state]++;
  }
  return counts;
}

/** The inodes of this process's open sockets (from /proc/self/fd), to pick its rows from parseProcNetTcp. */
export function ownSocketInodes(): Set<number> {
  const inodes = new Set<number>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m) inodes.add(Number(m[1]));
    } catch {
      // closed between the listing and the readlink
    }
  }
  return inodes;
}
