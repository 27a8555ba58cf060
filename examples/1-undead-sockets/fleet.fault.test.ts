import { type RedisServer, startRedis, withNetns } from '@halfopen/testkit';
import { describe, expect, it } from 'vitest';
// Incident 1's guarded fleet (8 instance processes, a real redis-server) under Redis faults,
// in a network namespace the test creates: Redis restarted (it keeps nothing) in the middle of
// a reconnect storm, and one instance cut off from Redis by iptables for 5 s, then healed.
// Afterwards every instance is asked for every controller's latest message over TCP.
// @ts-expect-error plain JavaScript example
import { cluster, controller } from './cluster.mjs';
// @ts-expect-error plain JavaScript example
import { askAll, quiet } from './scenario.mjs';

interface Ctl {
  id: string;
  sockets: Array<{ destroyed: boolean; destroy(): void }>;
  lastSeq: number;
}
type Cluster = Awaited<ReturnType<typeof cluster>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Each controller (by index) reconnects once more, `parallel` at a time, never closing old sockets. */
async function wave(ports: number[], ctl: Ctl[], ids: number[], parallel = 20): Promise<void> {
  for (let i = 0; i < ids.length; i += parallel) {
    await Promise.all(
      ids.slice(i, i + parallel).map(async (k) => {
        const id = `ctl-${k}`;
        const before = ctl[k];
        const r = await controller(id, ports, {
          reconnects: 2,
          firstSeq: before ? before.lastSeq + 1 : 0,
        });
        ctl[k] = { id, sockets: [...(before?.sockets ?? []), ...r.sockets], lastSeq: r.lastSeq };
      }),
    );
  }
}

/**
 * A controller whose newest connection the fleet refused (Redis was away) reconnects, as a
 * live one does, until its newest connection stays up.
 */
async function settle(c: Cluster, ports: number[], ctl: Ctl[]): Promise<void> {
  for (let round = 0; round < 10; round++) {
    await quiet(c);
    await sleep(300);
    const dead = ctl.flatMap((x, k) => (x.sockets.at(-1)!.destroyed ? [k] : []));
    if (dead.length === 0) return;
    await wave(ports, ctl, dead);
  }
  throw new Error('controllers still refused after 10 rounds');
}

async function verdict(c: Cluster, ctl: Ctl[]) {
  await quiet(c);
  const { answers, stale, unanswered } = await askAll(c, ctl);
  const stats = await c.stats();
  const owners = new Map<string, number>();
  for (const s of stats) for (const id of s.owned) owners.set(id, (owners.get(id) ?? 0) + 1);
  const open = stats.reduce((n: number, s: { sockets: number }) => n + s.sockets, 0);
  return {
    answers,
    stale,
    unanswered,
    twoOwners: [...owners.values()].filter((n) => n > 1).length,
    owned: owners.size,
    open,
    applied: stats.reduce(
      (n: number, s: { revocations: { applied: number } }) => n + s.revocations.applied,
      0,
    ),
    destroyed: stats.reduce(
      (n: number, s: { revocations: { destroyed: number } }) => n + s.revocations.destroyed,
      0,
    ),
    epochs: stats.map((s: { epochs: unknown }) => s.epochs),
  };
}

const CONTROLLERS = 80;
const all = Array.from({ length: CONTROLLERS }, (_, k) => k);

describe('incident 1 fleet under Redis faults (fault)', () => {
  it('redis-server restarted mid-storm: after reconciliation 0 stale answers and no peer with two owners', async () => {
    await withNetns(async () => {
      let redis: RedisServer = await startRedis();
      const port = redis.port;
      const c: Cluster = await cluster({ instances: 8, guarded: true, redisPort: port });
      const ctl: Ctl[] = [];
      try {
        const ports = c.nodes.map((n: { port: number }) => n.port);
        await wave(ports, ctl, all);
        const restart = (async () => {
          await sleep(200);
          await redis.stop(); // everything Redis knew is gone (no persistence)
          await sleep(500);
          redis = await startRedis({ port });
        })();
        await wave(ports, ctl, all); // the storm goes on through the restart
        await restart;
        await sleep(1500); // instances reconnect and reconcile
        await settle(c, ports, ctl);
        const v = await verdict(c, ctl);
        expect(v.stale).toBe(0);
        expect(v.unanswered).toBe(0);
        expect(v.answers).toBe(CONTROLLERS * 8);
        expect(v.twoOwners).toBe(0);
        expect(v.owned).toBe(CONTROLLERS);
        expect(v.open).toBe(CONTROLLERS);
        expect(v.destroyed).toBeGreaterThan(0);
        expect(v.applied).toBe(v.destroyed); // every revocation explained on the channel
        // The restart did hit: owners Redis forgot were recorded again by the instances holding them.
        const claimed = v.epochs.reduce((n: number, e: { claimed: number }) => n + e.claimed, 0);
        expect(claimed).toBeGreaterThan(0);
      } finally {
        for (const x of ctl) for (const s of x.sockets) s.destroy();
        await c.close();
        await redis.stop();
      }
    });
  });

  it('one instance cut off from Redis for 5 s and healed: 0 stale answers, no peer with two owners', async () => {
    await withNetns(async (ns) => {
      // Instance 0 reaches Redis at 127.0.0.2, the others at 127.0.0.1: iptables can cut it alone.
      const redis = await startRedis({ config: { bind: '0.0.0.0' } });
      const c: Cluster = await cluster({
        instances: 8,
        guarded: true,
        redisPort: redis.port,
        redisHosts: ['127.0.0.2'],
      });
      const ctl: Ctl[] = [];
      const cut = [
        ['-d', '127.0.0.2', '-p', 'tcp', '--dport', String(redis.port), '-j', 'DROP'],
        ['-s', '127.0.0.2', '-p', 'tcp', '--sport', String(redis.port), '-j', 'DROP'],
      ];
      try {
        const ports = c.nodes.map((n: { port: number }) => n.port);
        await wave(ports, ctl, all);
        for (const rule of cut) await ns.exec('iptables', ['-w', '-A', 'INPUT', ...rule]);
        const healed = (async () => {
          await sleep(5000);
          for (const rule of cut) await ns.exec('iptables', ['-w', '-D', 'INPUT', ...rule]);
        })();
        await wave(ports, ctl, all); // the storm goes on while instance 0 cannot reach Redis
        await healed;
        await sleep(1500); // instance 0 reconciles
        await settle(c, ports, ctl);
        const v = await verdict(c, ctl);
        const cutOff = v.epochs[0] as { refused: number; failures: number; lost: number };
        expect(cutOff.failures).toBeGreaterThan(0); // it did see the partition
        expect(v.stale).toBe(0);
        expect(v.unanswered).toBe(0);
        expect(v.answers).toBe(CONTROLLERS * 8);
        expect(v.twoOwners).toBe(0);
        expect(v.owned).toBe(CONTROLLERS);
        expect(v.open).toBe(CONTROLLERS);
        expect(v.applied).toBe(v.destroyed);
      } finally {
        for (const x of ctl) for (const s of x.sockets) s.destroy();
        await c.close();
        await redis.stop();
      }
    });
  });
});
