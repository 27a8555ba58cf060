import net from 'node:net';
import { behave, listenPeer, waitFor, withNetns } from '@halfopen/testkit';
import { describe, expect, it } from 'vitest';
import { guardSocket, IdleTimeoutError } from '../src/index.js';
// The incident lab's own worker-pool server (incident 3), here under real dropped RSTs.
// @ts-expect-error plain JavaScript example
import { request, workerPoolServer } from '../../../examples/3-lost-rst-probes/server.mjs';

// Real kernel TCP inside a fresh network namespace per test, with iptables faults.

const listen = (server: net.Server) =>
  new Promise<number>((r) =>
    server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)),
  );

/** A health probe: connects, then resets; the RST is dropped on the way. */
async function probe(port: number): Promise<void> {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.resetAndDestroy();
}

describe('incident 3: health probes whose RSTs are lost', () => {
  const WORKERS = 4;

  it('unguarded, the worker pool stops serving after N probes', async () => {
    await withNetns(async (ns) => {
      const { server, stats } = workerPoolServer({ workers: WORKERS });
      const port = await listen(server);
      await ns.dropRst(port);
      expect(await request(port, 1000)).toBe(true);
      for (let i = 0; i < WORKERS; i++) await probe(port);
      const served = await Promise.all([request(port, 1000), request(port, 1000)]);
      expect(served).toEqual([false, false]);
      expect(stats.freed).toBe(0);
      server.close();
    });
  });

  it('with guardServer(firstByteMs) it serves every real request while 10xN probes arrive', async () => {
    await withNetns(async (ns) => {
      const { server, guard, stats } = workerPoolServer({
        workers: WORKERS,
        guarded: true,
        firstByteMs: 300,
      });
      const port = await listen(server);
      await ns.dropRst(port);
      let ok = 0;
      for (let i = 0; i < 10 * WORKERS; i++) {
        await probe(port);
        if (i % WORKERS === WORKERS - 1) {
          // A real request after every N probes: it waits at most for one first-byte deadline.
          if (await request(port, 3000)) ok++;
        }
      }
      expect(ok).toBe(10);
      await waitFor(() => guard.stats().active === 0, 'every probe connection to be cut', {
        timeoutMs: 5000,
      });
      expect(guard.stats().destroyed['first-byte']).toBe(10 * WORKERS);
      expect(stats.freed).toBe(10 * WORKERS);
      guard.dispose();
      server.close();
    });
  });
});

describe('write stall against real kernel buffers', () => {
  /** Writes until the socket is destroyed; returns the error and when it came. */
  function writeUntilDestroyed(socket: net.Socket): Promise<{ err: unknown; at: number }> {
    const chunk = Buffer.alloc(256 * 1024);
    const fill = () => {
      while (!socket.destroyed && socket.write(chunk));
    };
    socket.on('drain', fill);
    fill();
    return new Promise((resolve) =>
      socket.once('error', (err) => resolve({ err, at: Date.now() })),
    );
  }

  it('destroys with WRITE_STALL when the peer stops reading', async () => {
    await withNetns(async () => {
      const peer = await listenPeer({ kind: 'non-reader' });
      const socket = net.connect(peer.port, '127.0.0.1');
      await new Promise((r) => socket.once('connect', r));
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
      const socket = net.connect(port, '127.0.0.1');
      let received = 0;
      socket.on('data', (d) => (received += d.length));
      await new Promise((r) => socket.once('connect', r));
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
      // Small kernel buffers in this namespace, so bursts are small and the test is quick.
      await ns.exec('sysctl', ['-q', '-w', 'net.ipv4.tcp_wmem=4096 65536 262144']);
      await ns.exec('sysctl', ['-q', '-w', 'net.ipv4.tcp_rmem=4096 65536 262144']);
      const peer = await listenPeer({ kind: 'slow-reader', bytesPerSec: 3 * 1024 * 1024 });
      const socket = net.connect(peer.port, '127.0.0.1');
      socket.on('error', () => {});
      await new Promise((r) => socket.once('connect', r));
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
        {
          timeoutMs: 30_000,
        },
      );
      expect(socket.destroyed).toBe(false);
      expect(guard.stats().destroyedBy).toBeUndefined();
      guard.dispose();
      socket.destroy();
      await peer.close();
    });
  });
});
