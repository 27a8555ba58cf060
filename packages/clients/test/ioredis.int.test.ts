import { startRedis } from '@halfopen/testkit';
import { Redis as Redis5 } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';
import { describe, expect, it } from 'vitest';
import { guardRedis } from '../src/index.js';

// ioredis 6 keeps 5's constructor and events; its types are its own, hence the cast.
const versions: Array<[string, typeof Redis5]> = [
  ['ioredis 5', Redis5],
  ['ioredis 6', Redis6 as unknown as typeof Redis5],
];

describe.each(versions)('%s with guardRedis against a real Redis', (_, Client) => {
  it('commands after a 3 s gap succeed while the server closes clients idle for 2 s', async () => {
    const rs = await startRedis({ idleTimeoutSec: 2 });
    const redis = new Client({ port: rs.port, host: rs.host });
    const errors: string[] = [];
    redis.on('error', (e) => errors.push(e.message));
    const guard = guardRedis(redis);
    let reconnects = 0;
    redis.on('reconnecting', () => reconnects++);
    try {
      for (let i = 0; i < 3; i++) {
        expect(await redis.incr('n')).toBe(i + 1);
        await new Promise((r) => setTimeout(r, 3000));
      }
      expect(reconnects).toBeGreaterThan(0); // the server did close idle clients
      expect(guard.stats().guarded).toBeGreaterThan(1); // and every new connection was guarded
    } finally {
      guard.dispose();
      redis.disconnect();
      await rs.stop();
    }
  });

  it('refuses unknown options and a non-client, naming them', () => {
    const fake = { on() {}, removeListener() {} };
    expect(() => guardRedis(fake, { idleMs: 1 } as never)).toThrow(/options\.idleMs/);
    expect(() => guardRedis(null as never)).toThrow(/redis/);
  });
});
