import { startRedis, withNetns } from '@halfopen/testkit';
import { Redis as Redis5 } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';
import { describe, expect, it } from 'vitest';
import { guardRedis } from '../src/index.js';

// keepalive idle 1 s, interval 1 s, 2 probes: a dead Redis is noticed within 3 s. ioredis's
// default (keepAlive 0: the kernel's 2 h idle) would notice an idle one after hours.
const keepAlive = { idleMs: 1000, intervalMs: 1000, count: 2 };
const detectionMs = 3000;

type Redis = InstanceType<typeof Redis5>;
// ioredis 6 keeps 5's constructor and events; its types are its own, hence the cast.
const versions: Array<[string, typeof Redis5]> = [
  ['ioredis 5', Redis5],
  ['ioredis 6', Redis6 as unknown as typeof Redis5],
];

function closed(redis: Redis): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => redis.once('close', () => resolve(performance.now() - t0)));
}

describe.each(versions)('%s with guardRedis and the server black-holed', (_, Client) => {
  for (const when of ['idle', 'in flight'] as const) {
    it(`reports the dead connection ${when} within the detection time + 1 s, and the next command succeeds once Redis is back`, async () => {
      await withNetns(async (ns) => {
        const rs = await startRedis();
        const redis: Redis = new Client({
          port: rs.port,
          host: rs.host,
          retryStrategy: () => 200,
          connectTimeout: 1000,
        });
        redis.on('error', () => {});
        const guard = guardRedis(redis, { keepAlive });
        try {
          expect(await redis.ping()).toBe('PONG');
          // A command the server holds: sent and acknowledged, then nothing moves.
          const blocked =
            when === 'in flight' ? redis.blpop('nothing', 4).catch((e: Error) => e) : undefined;
          await new Promise((r) => setTimeout(r, 100));
          const rules = await ns.blackhole(rs.port);
          const elapsed = await closed(redis);
          expect(elapsed).toBeLessThan(detectionMs + 1000);
          await ns.remove(rules);
          expect(await redis.set('k', 'v')).toBe('OK');
          expect(await redis.get('k')).toBe('v');
          expect(guard.stats().guarded).toBeGreaterThanOrEqual(2); // the reconnect was guarded too
          // ioredis sent the blocked command again after reconnecting; it ends on its own.
          await blocked;
        } finally {
          guard.dispose();
          redis.disconnect();
          await rs.stop();
        }
      });
    });
  }
});
