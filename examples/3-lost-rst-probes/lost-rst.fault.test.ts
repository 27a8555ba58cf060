import net from 'node:net';
import { waitFor, withNetns } from '@halfopen/testkit';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import { request, workerPoolServer } from './server.mjs';

// Incident 3's worker-pool server (the lab's own) under real dropped RSTs: real kernel TCP in
// a fresh network namespace per test, with iptables dropping every RST to the server's port.

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
