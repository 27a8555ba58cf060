import type net from 'node:net';
import { countTcpStates, waitFor, withNetns } from '@halfopen/testkit';
import { ConnectionMap } from '@halfopen/reaper';
import { describe, expect, it } from 'vitest';
// The incident lab's own backends and SDK-style client (incident 4).
// @ts-expect-error plain JavaScript example
import { dial, rotate } from './backends.mjs';

// Incident 4 on real kernel TCP, in a namespace of its own: a client keeps one connection per
// backend; backends are replaced (the old one closes its end, a new one listens on a new
// port) and a name list says which are live.

const LIVE = 4;
const ROTATIONS = 200;
const rotateAll = (
  use: (live: number[]) => Promise<void>,
  onRotation: (i: number) => void = () => {},
) =>
  rotate({ live: LIVE, rotations: ROTATIONS, use, onRotation }) as Promise<
    Array<{ close(): void }>
  >;

describe('incident 4: CLOSE_WAIT pile-up in a connection map', () => {
  it('with a naive Map, CLOSE_WAIT grows with every rotation', async () => {
    await withNetns(async () => {
      const conns = new Map<number, net.Socket>();
      const counts: number[] = [];
      const pool = await rotateAll(
        async (live) => {
          for (const port of live) {
            if (!conns.has(port)) conns.set(port, (await dial(port, false)) as net.Socket);
            conns.get(port)!.write('x');
          }
        },
        (i) => {
          if (i % 50 === 49) counts.push(countTcpStates().CLOSE_WAIT);
        },
      );
      await new Promise((r) => setTimeout(r, 100));
      const final = countTcpStates().CLOSE_WAIT;
      expect(final).toBeGreaterThanOrEqual(ROTATIONS - LIVE);
      expect(counts[0]!).toBeLessThan(counts[1]!);
      expect(counts[1]!).toBeLessThan(counts[3]!);
      for (const s of conns.values()) s.destroy();
      for (const b of pool) b.close();
    });
  });

  it('with ConnectionMap (evictOnClose + retain), CLOSE_WAIT ends at 0 and the map holds only live backends', async () => {
    await withNetns(async () => {
      const map = new ConnectionMap<number, net.Socket>({ graceMs: 200 });
      let largest = 0;
      const pool = await rotateAll(
        async (live) => {
          map.retain(live); // the name list: keys that left it are closed now
          for (const port of live)
            (await map.getOrCreate(port, (p) => dial(p, false) as Promise<net.Socket>)).write('x');
          largest = Math.max(largest, map.size);
        },
        () => {},
      );
      await waitFor(() => countTcpStates().CLOSE_WAIT === 0, 'CLOSE_WAIT to drain', {
        timeoutMs: 5000,
      });
      expect(largest).toBeLessThanOrEqual(LIVE);
      const s = map.stats();
      expect(s.reaped['peer-closed'] + s.reaped.removed).toBe(ROTATIONS);
      await map.close();
      for (const b of pool) b.close();
    });
  });

  it('a client that paused its sockets (the FIN is never read) is bounded by idle reaping', async () => {
    await withNetns(async () => {
      const map = new ConnectionMap<number, net.Socket>({ idleTimeoutMs: 300, graceMs: 100 });
      const pool = await rotateAll(
        async (live) => {
          // No name list here: only idleness tells the map a backend is gone.
          for (const port of live)
            (await map.getOrCreate(port, (p) => dial(p, true) as Promise<net.Socket>)).write('x');
        },
        () => {},
      );
      expect(countTcpStates().CLOSE_WAIT).toBeGreaterThan(0);
      await waitFor(() => countTcpStates().CLOSE_WAIT === 0, 'idle reaping to close them', {
        timeoutMs: 5000,
      });
      expect(map.stats().reaped.idle).toBeGreaterThanOrEqual(ROTATIONS - LIVE);
      await map.close();
      for (const b of pool) b.close();
    });
  });
});
