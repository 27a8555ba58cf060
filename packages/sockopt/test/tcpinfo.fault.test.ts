import net from 'node:net';
import { withNetns } from '@halfopen/testkit';
import { describe, expect, it } from 'vitest';
import { sendQueueBytes, setSockopts, type TcpInfo, tcpInfo } from '../src/index.js';

// Real kernel TCP in a namespace per test. Small socket buffers (tcp_rmem/tcp_wmem are per
// namespace) make a stopped reader reach a zero window after a few KiB instead of megabytes.

interface Pair {
  client: net.Socket;
  server: net.Socket;
  close(): void;
}

async function pair(): Promise<Pair> {
  let accepted: net.Socket | undefined;
  const srv = net.createServer((s) => {
    accepted = s;
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  await new Promise((r) => client.once('connect', r));
  while (!accepted) await new Promise((r) => setImmediate(r));
  const server = accepted;
  return {
    client,
    server,
    close: () => {
      client.destroy();
      server.destroy();
      srv.close();
    },
  };
}

async function smallBuffers(ns: { exec(cmd: string, args: readonly string[]): Promise<string> }) {
  await ns.exec('sysctl', ['-q', '-w', 'net.ipv4.tcp_rmem=4096 16384 16384']);
  await ns.exec('sysctl', ['-q', '-w', 'net.ipv4.tcp_wmem=4096 16384 16384']);
}

/** Polls tcpInfo until `ok` holds; returns the last reading (the test asserts on it). */
async function until(
  socket: net.Socket,
  ok: (i: TcpInfo) => boolean,
  ms: number,
): Promise<TcpInfo> {
  const end = Date.now() + ms;
  let info = tcpInfo(socket) as TcpInfo;
  while (!ok(info) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 25));
    info = tcpInfo(socket) as TcpInfo;
  }
  return info;
}

/** Keeps `socket`'s send buffer full: writes whenever it drains. */
function keepWriting(socket: net.Socket): () => void {
  let on = true;
  const chunk = Buffer.alloc(64 * 1024);
  const write = () => {
    while (on && socket.write(chunk)) {}
  };
  socket.on('drain', write);
  write();
  return () => {
    on = false;
    socket.off('drain', write);
  };
}

describe('tcpInfo on real kernel TCP', () => {
  it('a peer that stopped reading shows as a zero window with probes sent and bytes queued', async () => {
    await withNetns(async (ns) => {
      await smallBuffers(ns);
      const p = await pair();
      p.server.pause(); // the peer stops reading: its receive buffer fills, its window closes
      const stop = keepWriting(p.client);
      try {
        const info = await until(
          p.client,
          (i) => i.peerWindow === 0 && (i.probes ?? 0) >= 1,
          15_000,
        );
        expect(info.state).toBe('ESTABLISHED');
        expect(info.peerWindow).toBe(0);
        // Zero-window probes: sent by the kernel, unanswered with any window.
        expect(info.probes).toBeGreaterThanOrEqual(1);
        expect(sendQueueBytes(p.client)).toBeGreaterThan(0);
        // No progress while the window is shut.
        const acked = info.bytesAcked as number;
        await new Promise((r) => setTimeout(r, 300));
        expect(tcpInfo(p.client)?.bytesAcked).toBe(acked);
      } finally {
        stop();
        p.close();
      }
    });
  });

  it('bytesAcked grows exactly as the peer reads, and the window reopens', async () => {
    await withNetns(async (ns) => {
      await smallBuffers(ns);
      const p = await pair();
      p.server.pause();
      const total = 1024 * 1024;
      p.client.write(Buffer.alloc(total));
      try {
        const stalled = await until(p.client, (i) => i.peerWindow === 0, 15_000);
        expect(stalled.peerWindow).toBe(0);
        const ackedWhileStalled = stalled.bytesAcked as number;
        // Far below what was written: the kernel knows the peer has taken only a buffer's worth.
        expect(ackedWhileStalled).toBeLessThan(total / 4);
        let read = 0;
        p.server.on('data', (d: Buffer) => {
          read += d.length;
        });
        p.server.resume();
        const done = await until(p.client, (i) => i.bytesAcked === total + 1, 15_000);
        // +1: the SYN is counted as acknowledged.
        expect(done.bytesAcked).toBe(total + 1);
        expect(read).toBe(total);
        expect(done.peerWindow).toBeGreaterThan(0);
        expect(sendQueueBytes(p.client)).toBe(0);
        expect(tcpInfo(p.server)?.bytesReceived).toBe(total);
      } finally {
        p.close();
      }
    });
  });

  it('a vanished peer with data in flight: retransmits, backoff and unacked segments, then TCP_USER_TIMEOUT cuts it', async () => {
    await withNetns(async (ns) => {
      const p = await pair();
      expect(setSockopts(p.client, { userTimeoutMs: 2000 }).userTimeoutMs).toBe(2000);
      await ns.blackhole((p.server.address() as net.AddressInfo).port);
      const died = new Promise<{ code?: string; at: number }>((r) =>
        p.client.once('error', (e: NodeJS.ErrnoException) => r({ code: e.code, at: Date.now() })),
      );
      const start = Date.now();
      p.client.write(Buffer.alloc(1000));
      try {
        const info = await until(p.client, (i) => (i.retransmits ?? 0) >= 2, 10_000);
        expect(info.retransmits).toBeGreaterThanOrEqual(2);
        expect(info.backoff).toBeGreaterThanOrEqual(1);
        expect(info.totalRetrans).toBeGreaterThanOrEqual(2);
        expect(info.unackedSegments).toBeGreaterThanOrEqual(1);
        expect(info.lastAckRecvMs).toBeGreaterThan(0);
        const { code, at } = await died;
        expect(code).toBe('ETIMEDOUT');
        // The user timeout, not the default ~15 minutes of retries (slack for a loaded machine).
        expect(at - start).toBeGreaterThanOrEqual(1500);
        expect(at - start).toBeLessThan(10_000);
      } finally {
        p.close();
      }
    });
  });
});
