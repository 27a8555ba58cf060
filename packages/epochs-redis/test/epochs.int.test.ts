import { assertNoLeaks, leakSnapshot, type RedisServer, startRedis } from '@halfopen/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { codes, FleetEpochs, type FleetEpochsOptions } from '../src/index.js';

// The Lua scripts on a real redis-server (Debian's), through ioredis.

class Conn {
  destroyed = false;
  destroy() {
    this.destroyed = true;
  }
}

let server: RedisServer;
const clients: Redis[] = [];
const made: FleetEpochs<Conn>[] = [];
let test = 0; // each test its own keys: t<test>:<peer>
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.stop();
});
afterEach(async () => {
  test++;
  for (const e of made.splice(0)) await e.shutdown();
  for (const c of clients.splice(0)) c.disconnect();
});

async function fleet(instance: string, o: Partial<FleetEpochsOptions<Conn>> = {}) {
  const redis = new Redis({ port: server.port, host: '127.0.0.1' });
  clients.push(redis);
  const e = new FleetEpochs<Conn>({ redis, instance, prefix: `t${test}:`, ...o });
  made.push(e);
  await new Promise<void>((resolve) => {
    const check = () => (e.stats().reconciles > 0 ? resolve() : setTimeout(check, 10));
    check();
  });
  return { e, redis };
}
const until = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe('FleetEpochs on a real Redis (integration)', () => {
  it('one open is one script: the epoch is recorded with its owner and the supersede reaches the other instance', async () => {
    const a = await fleet('a');
    const b = await fleet('b', {});
    const old = new Conn();
    const e1 = await a.e.open('ctl-1', old);
    const e2 = await b.e.open('ctl-1', new Conn());
    expect(e2).toBeGreaterThan(e1);
    expect(Number.isSafeInteger(e2)).toBe(true);
    await until(() => old.destroyed);
    expect(old.destroyed).toBe(true);
    expect(await a.e.owner('ctl-1')).toMatchObject({ instance: 'b', epoch: e2 });
    expect(await a.redis.hget(`t${test}:ctl-1`, 'epoch')).toBe(String(e2));
  });

  it('after SCRIPT FLUSH (a restarted Redis has no scripts) an open sends the script again', async () => {
    const a = await fleet('a');
    const e1 = await a.e.open('ctl-1', new Conn());
    await a.redis.script('FLUSH');
    expect(await a.e.open('ctl-1', new Conn())).toBeGreaterThan(e1);
    expect(a.e.stats().failures).toBe(0);
  });

  it('close forgets the owner but not the epoch: the next open is still higher', async () => {
    const a = await fleet('a');
    const c = new Conn();
    const e1 = await a.e.open('ctl-1', c);
    a.e.close('ctl-1', c);
    await new Promise((r) => setTimeout(r, 50)); // the close script runs in the background
    expect(await a.e.owner('ctl-1')).toBeUndefined();
    expect(await a.e.open('ctl-1', new Conn())).toBeGreaterThan(e1);
  });

  it('an open whose script reaches Redis after its deadline changes nothing', async () => {
    const a = await fleet('a', { now: () => Date.now() - 60_000, timeoutMs: 1000 });
    await expect(a.e.open('ctl-1', new Conn())).rejects.toMatchObject({
      code: codes.UNAVAILABLE,
      message: expect.stringMatching(/after its 500 ms deadline/),
    });
    expect(await a.redis.exists(`t${test}:ctl-1`)).toBe(0);
  });

  it('an older generation is refused; reconcile after FLUSHALL records the owner again', async () => {
    const a = await fleet('a');
    const b = await fleet('b', {});
    await a.e.open('ctl-1', new Conn()); // no generation recorded yet: the next one is taken
    const held = new Conn();
    const e = await a.e.open('ctl-1', held, { generation: 10 });
    await expect(b.e.open('ctl-1', new Conn(), { generation: 9 })).rejects.toMatchObject({
      code: codes.SUPERSEDED,
    });
    await a.redis.flushall();
    expect(await b.e.owner('ctl-1')).toBeUndefined();
    await a.e.reconcile();
    expect(await b.e.owner('ctl-1')).toMatchObject({ instance: 'a', epoch: e });
    expect(a.e.stats().claimed).toBe(1);
    expect(held.destroyed).toBe(false);
  });

  it("a claim at reconciliation clears the previous owner's generation (the Lua, not the fake)", async () => {
    const a = await fleet('a');
    const b = await fleet('b', {});
    const e = await a.e.open('ctl-1', new Conn(), { generation: 3 });
    // Redis back from a snapshot taken while x owned ctl-1 with generation 9 (lower epoch).
    await a.redis.hset(`t${test}:ctl-1`, { epoch: String(e - 1), instance: 'x', since: 1, gen: 9 });
    await a.e.reconcile();
    expect(a.e.stats().claimed).toBe(1);
    expect(await a.redis.hget(`t${test}:ctl-1`, 'gen')).toBe('');
    const e2 = await b.e.open('ctl-1', new Conn(), { generation: 4 }); // was SUPERSEDED by gen 9
    expect(await a.e.owner('ctl-1')).toMatchObject({ instance: 'b', epoch: e2 });
  });

  it('shutdown and disconnect leave no socket or timer behind', async () => {
    await new Promise((r) => setTimeout(r, 100)); // sockets of earlier tests finish closing
    const before = leakSnapshot();
    const a = await fleet('a');
    await a.e.open('ctl-1', new Conn());
    await a.e.owner('ctl-1');
    await a.e.shutdown(); // disconnects the subscriber it made
    a.redis.disconnect();
    await assertNoLeaks(before, 50);
  });
});
