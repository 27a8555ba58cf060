import http from 'node:http';
import net from 'node:net';
import { behave, listenPeer, type Netns, waitFor, withNetns } from '@halfopen/testkit';
import { describe, expect, it } from 'vitest';
import { guardServer, guardSocket, IdleTimeoutError, type SocketGuard } from '../src/index.js';

// Real kernel TCP inside a fresh network namespace per test. Where TCP_INFO is readable (here:
// Linux with @halfopen/sockopt's binary) write progress is bytes the peer acknowledged.
// Bounds have slack for a loaded 2-core machine.

const listen = (server: net.Server) =>
  new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
  );

/** Small kernel buffers in this namespace, so buffers fill at once and tests are quick. */
async function smallBuffers(ns: Netns, rmem: string, wmem: string): Promise<void> {
  await ns.exec('sysctl', ['-q', '-w', `net.ipv4.tcp_rmem=${rmem}`]);
  await ns.exec('sysctl', ['-q', '-w', `net.ipv4.tcp_wmem=${wmem}`]);
}

/** Writes until the socket is destroyed; returns the error and when it came. */
function writeUntilDestroyed(socket: net.Socket): Promise<{ err: unknown; at: number }> {
  const chunk = Buffer.alloc(256 * 1024);
  const fill = () => {
    while (!socket.destroyed && socket.write(chunk));
  };
  socket.on('drain', fill);
  fill();
  return new Promise((resolve) => socket.once('error', (err) => resolve({ err, at: Date.now() })));
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  return socket;
}

describe('write stall against real kernel buffers', () => {
  it('destroys with WRITE_STALL when the peer stops reading', async () => {
    await withNetns(async () => {
      const peer = await listenPeer({ kind: 'non-reader' });
      const socket = await connect(peer.port);
      const start = Date.now();
      const guard = guardSocket(socket, { writeStallMs: 500 });
      const { err, at } = await writeUntilDestroyed(socket);
      expect(err).toBeInstanceOf(IdleTimeoutError);
      expect(err).toMatchObject({ code: 'HALFOPEN_ERR_WRITE_STALL', limitMs: 500 });
      expect(at - start).toBeGreaterThanOrEqual(500);
      expect(at - start).toBeLessThan(3000);
      expect(guard.disposed).toBe(true);
      await peer.close();
    });
  });

  it('still detects the stall when that peer sends a byte every 200 ms', async () => {
    await withNetns(async () => {
      const server = net.createServer((s) => {
        behave(s, { kind: 'non-reader' });
        const t = setInterval(() => s.writable && s.write('.'), 200);
        s.on('close', () => clearInterval(t));
      });
      const port = await listen(server);
      const socket = await connect(port);
      let received = 0;
      socket.on('data', (d) => (received += d.length));
      const start = Date.now();
      guardSocket(socket, { writeStallMs: 1000, readIdleMs: 1000 });
      const { err, at } = await writeUntilDestroyed(socket);
      expect(err).toMatchObject({ code: 'HALFOPEN_ERR_WRITE_STALL' });
      expect(received).toBeGreaterThan(2); // the peer kept talking: reads never went idle
      expect(at - start).toBeLessThan(4000);
      server.close();
    });
  });

  it('never destroys a reader draining steadily above minDrainBytesPerSec while we write 32 MiB', async () => {
    await withNetns(async (ns) => {
      await smallBuffers(ns, '4096 65536 262144', '4096 65536 262144');
      const peer = await listenPeer({ kind: 'slow-reader', bytesPerSec: 3 * 1024 * 1024 });
      const socket = await connect(peer.port);
      socket.on('error', () => {});
      const guard = guardSocket(socket, {
        writeStallMs: 500,
        minDrainBytesPerSec: 1024 * 1024,
        sendBufferBytes: 262144,
      });
      const total = 32 * 1024 * 1024;
      await new Promise<void>((resolve, reject) => {
        socket.write(Buffer.alloc(total), (err) => (err ? reject(err) : resolve()));
      });
      await waitFor(
        () => peer.peers[0]!.bytesRead >= total - 1024 * 1024,
        'the reader to catch up',
        { timeoutMs: 30_000 },
      );
      expect(socket.destroyed).toBe(false);
      expect(guard.stats().destroyedBy).toBeUndefined();
      guard.dispose();
      socket.destroy();
      await peer.close();
    });
  });
});

// Rate mode on the kernel's acknowledged bytes (issue 14): no burst allowance, so a slow
// reader is cut within writeStallMs plus one resolution, and a steady one never is.
describe('rate mode on kernel progress (TCP_INFO bytes acked)', () => {
  const RATE = { writeStallMs: 3000, minDrainBytesPerSec: 4096 };

  it('cuts a zero-window peer within writeStallMs + 1 s and says it was a zero window', async () => {
    await withNetns(async (ns) => {
      await smallBuffers(ns, '4096 16384 16384', '4096 16384 16384');
      const peer = await listenPeer({ kind: 'non-reader' });
      const socket = await connect(peer.port);
      const guard = guardSocket(socket, RATE);
      const start = Date.now();
      const { err, at } = await writeUntilDestroyed(socket);
      expect(at - start).toBeLessThan(RATE.writeStallMs + 1000);
      expect(at - start).toBeGreaterThanOrEqual(RATE.writeStallMs - 100);
      const e = err as IdleTimeoutError;
      expect(e).toMatchObject({
        code: 'HALFOPEN_ERR_WRITE_STALL',
        limitMs: 3000, // no burst allowance: (4 MiB / 2) / 4 KiB/s would add 8.5 minutes
        progress: 'kernel',
        kernel: { peerWindow: 0 },
      });
      // Probes the peer answers (with a zero window again) are not counted as unanswered.
      expect(e.kernel?.probes).toEqual(expect.any(Number));
      expect(e.message).toMatch(
        /kernel: ESTABLISHED, peer advertises a zero window \((it stopped reading|\d+ probes unanswered)\), \d+ B acknowledged/,
      );
      expect(guard.stats().progress).toBe('kernel');
      await peer.close();
    });
  });

  it('cuts a peer reading 1 KiB/s through a small receive buffer within writeStallMs + 1 s', async () => {
    await withNetns(async (ns) => {
      await smallBuffers(ns, '4096 8192 8192', '4096 16384 65536');
      const peer = await listenPeer({ kind: 'slow-reader', bytesPerSec: 1024, tickMs: 100 });
      const socket = await connect(peer.port);
      guardSocket(socket, RATE);
      const start = Date.now();
      const { err, at } = await writeUntilDestroyed(socket);
      expect(err).toMatchObject({ code: 'HALFOPEN_ERR_WRITE_STALL', progress: 'kernel' });
      expect(at - start).toBeLessThan(RATE.writeStallMs + 1000);
      expect(peer.peers[0]!.bytesRead).toBeGreaterThan(0); // it did read: slowly
      expect((err as IdleTimeoutError).kernel?.bytesAcked).toBeGreaterThan(0);
      await peer.close();
    });
  });

  it('never cuts a reader at 4x the minimum rate on a connection backed up for 20 s', async () => {
    await withNetns(async (ns) => {
      // Both buffers 64 KiB at most; the body (1.25 MiB at 64 KiB/s) is 20x larger.
      await smallBuffers(ns, '4096 32768 65536', '4096 32768 65536');
      const min = 16 * 1024;
      const peer = await listenPeer({ kind: 'slow-reader', bytesPerSec: 4 * min });
      const socket = await connect(peer.port);
      socket.on('error', () => {});
      const guard = guardSocket(socket, { writeStallMs: 2000, minDrainBytesPerSec: min });
      const total = 20 * 4 * min;
      const start = Date.now();
      socket.write(Buffer.alloc(total));
      let maxPending = 0;
      await waitFor(
        () => {
          maxPending = Math.max(maxPending, guard.stats().pendingBytes);
          return socket.destroyed || peer.peers[0]!.bytesRead >= total;
        },
        'the reader to read the whole body',
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      expect(guard.stats().destroyedBy).toBeUndefined();
      expect(socket.destroyed).toBe(false);
      expect(Date.now() - start).toBeGreaterThan(15_000); // it really was backed up that long
      expect(maxPending).toBeGreaterThan(65536); // more than the kernel could hold
      expect(guard.stats().progress).toBe('kernel');
      guard.dispose();
      socket.destroy();
      await peer.close();
    });
  });

  it('an http server under a slow-read attack of 300 connections cuts >= 95% within 15 s and serves others', async () => {
    await withNetns(async (ns) => {
      // Tiny receive buffers for everyone in the namespace: the attackers' window stays small.
      await smallBuffers(ns, '4096 4096 4096', '4096 16384 4194304');
      const body = Buffer.alloc(1024 * 1024, 'x');
      let attacks = 0;
      const server = http.createServer((req, res) => {
        if (req.url === '/big') {
          attacks++;
          res.end(body);
        } else res.end('ok');
      });
      const guard = guardServer(server, RATE);
      const guards: SocketGuard[] = [];
      guard.on('guard', (g) => guards.push(g));
      const port = await listen(server);
      const attackers: net.Socket[] = [];
      const timers: NodeJS.Timeout[] = [];
      const start = Date.now();
      for (let i = 0; i < 300; i += 50) {
        const batch = await Promise.all(
          Array.from({ length: 50 }, async () => {
            const s = await connect(port);
            s.on('error', () => {});
            s.pause();
            s.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
            // Reads a few bytes every 3 s, so the window opens by a little, now and then.
            const t = setInterval(() => s.read(16), 3000);
            timers.push(t);
            return s;
          }),
        );
        attackers.push(...batch);
      }
      // On a loaded machine the server takes a while to accept 300 connections; ordinary
      // requests are measured once every attack is being answered (the attack under way).
      await waitFor(() => attacks === 300, 'every attack request to be answered', {
        timeoutMs: 14_000,
      });
      const agent = new http.Agent({ keepAlive: false });
      const get = () =>
        new Promise<string>((resolve, reject) => {
          http
            .get({ port, host: '127.0.0.1', path: '/small', agent }, (res) => {
              let b = '';
              res.on('data', (d) => (b += d)).on('end', () => resolve(b));
            })
            .on('error', reject);
        });
      const latencies: number[] = [];
      while (Date.now() - start < 15_000) {
        const t0 = Date.now();
        expect(await get()).toBe('ok');
        latencies.push(Date.now() - t0);
        if (guard.stats().destroyed['write-stall'] >= 300) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      const cut = guard.stats().destroyed['write-stall'];
      const left = guards.filter((g) => !g.disposed).map((g) => g.stats());
      expect(Date.now() - start).toBeLessThan(16_000);
      expect(cut, JSON.stringify(left.slice(0, 3))).toBeGreaterThanOrEqual(285);
      expect(latencies.length).toBeGreaterThan(2);
      expect(Math.max(...latencies)).toBeLessThan(2000);
      for (const t of timers) clearInterval(t);
      for (const s of attackers) s.destroy();
      agent.destroy();
      guard.dispose();
      await new Promise((r) => server.close(r));
    });
  });
});
