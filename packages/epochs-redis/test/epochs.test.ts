import diagnostics from 'node:diagnostics_channel';
import { SkewGuard } from '@halfopen/skew-guard';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { codes, FleetEpochs, type FleetEpochsOptions, type Revocation } from '../src/index.js';
import { FakeClient, FakeRedisServer } from './fake-redis.js';

class Conn {
  destroyed = false;
  constructor(readonly name: string) {}
  destroy() {
    this.destroyed = true;
  }
}

const made: FleetEpochs<Conn>[] = [];
function fleet(
  server: FakeRedisServer,
  instance: string,
  o: Partial<FleetEpochsOptions<Conn>> = {},
) {
  const redis = new FakeClient(server);
  const e = new FleetEpochs<Conn>({ redis, instance, ...o });
  made.push(e);
  return { e, redis, sub: [...server.clients].at(-1)! };
}
const settle = () => new Promise((r) => setImmediate(r));

function listen(event: string) {
  const seen: Array<Record<string, unknown>> = [];
  const ch = diagnostics.channel(`halfopen:epochs-redis:${event}`);
  const fn = (m: unknown) => seen.push(m as Record<string, unknown>);
  ch.subscribe(fn);
  return Object.assign(seen, { off: () => ch.unsubscribe(fn) });
}

afterEach(async () => {
  vi.useRealTimers();
  for (const e of made.splice(0)) await e.shutdown();
});

describe('FleetEpochs', () => {
  it('an ioredis client fits the options (types)', () => {
    const check = (redis: Redis) => new FleetEpochs({ redis, instance: 'a' });
    expect(typeof check).toBe('function');
  });

  it('open takes a fleet epoch higher than any before on any instance, and owner() names it', async () => {
    const server = new FakeRedisServer();
    const a = fleet(server, 'a');
    const b = fleet(server, 'b');
    const e1 = await a.e.open('ctl-1', new Conn('1'));
    const e2 = await b.e.open('ctl-1', new Conn('2'));
    const e3 = await a.e.open('ctl-1', new Conn('3'));
    expect(e2).toBeGreaterThan(e1);
    expect(e3).toBeGreaterThan(e2);
    expect(await b.e.owner('ctl-1')).toMatchObject({ instance: 'a', epoch: e3 });
    expect(await b.e.owner('ctl-2')).toBeUndefined();
  });

  it('an open on one instance revokes the older connection on another, naming the new owner and epoch', async () => {
    const server = new FakeRedisServer();
    const calls: Array<[string, string, number, Revocation]> = [];
    const a = fleet(server, 'a', {
      onSupersede: (old, peer, oldEpoch, by) => {
        calls.push([old.name, peer, oldEpoch, by]);
        old.destroy();
      },
    });
    const b = fleet(server, 'b');
    const applied = listen('applied');
    const old = new Conn('old');
    const e1 = await a.e.open('ctl-1', old);
    const e2 = await b.e.open('ctl-1', new Conn('new'));
    await settle();
    applied.off();
    expect(old.destroyed).toBe(true);
    expect(calls).toEqual([
      ['old', 'ctl-1', e1, { instance: 'b', epoch: e2, reason: 'broadcast' }],
    ]);
    expect(a.e.epochOf('ctl-1')).toBeUndefined();
    expect(b.e.epochOf('ctl-1')).toBe(e2);
    expect(applied).toContainEqual(
      expect.objectContaining({
        peer: 'ctl-1',
        oldEpoch: e1,
        epoch: e2,
        instance: 'a',
        owner: 'b',
      }),
    );
  });

  it('SkewGuard with epochs refuses a message from the superseded connection and accepts the owner', async () => {
    const server = new FakeRedisServer();
    const a = fleet(server, 'a');
    const b = fleet(server, 'b');
    const guardA = new SkewGuard({ epochs: a.e, maxPastMs: 60_000, maxFutureMs: 5000 });
    const guardB = new SkewGuard({ epochs: b.e, maxPastMs: 60_000, maxFutureMs: 5000 });
    const e1 = await a.e.open('ctl-1', new Conn('old'));
    const e2 = await b.e.open('ctl-1', new Conn('new'));
    await settle();
    const at = Date.now();
    expect(guardA.check({ peer: 'ctl-1', sentAt: at, seq: 1, epoch: e1 }).ok).toBe(false);
    expect(guardB.check({ peer: 'ctl-1', sentAt: at, seq: 1, epoch: e2 }).ok).toBe(true);
  });

  it('a newer supersede that arrives before our own open answers revokes the new connection at once', async () => {
    const server = new FakeRedisServer();
    server.manual = true;
    const a = fleet(server, 'a');
    const b = fleet(server, 'b');
    const mine = new Conn('mine');
    const opening = a.e.open('ctl-1', mine); // runs at Redis first (lower epoch) ...
    const other = b.e.open('ctl-1', new Conn('other'));
    a.sub.deliver(); // ... a's own broadcast
    a.sub.deliver(); // b's broadcast reaches a before a's reply
    a.redis.deliver();
    const e1 = await opening;
    await server.drain();
    const e2 = await other;
    expect(e2).toBeGreaterThan(e1);
    expect(mine.destroyed).toBe(true);
    expect(a.e.epochOf('ctl-1')).toBeUndefined();
    expect(b.e.epochOf('ctl-1')).toBe(e2);
  });

  it("an open whose generation is older than the owner's is refused with SUPERSEDED and changes nothing", async () => {
    // Under load, the open for a peer's older connection can reach Redis after the newer one:
    // without generations the older would take the peer and revoke the connection in use.
    const server = new FakeRedisServer();
    const a = fleet(server, 'a');
    const b = fleet(server, 'b');
    const newer = new Conn('newer');
    const e = await b.e.open('ctl-1', newer, { generation: 7 });
    const older = new Conn('older');
    await expect(a.e.open('ctl-1', older, { generation: 6 })).rejects.toMatchObject({
      code: codes.SUPERSEDED,
      peer: 'ctl-1',
    });
    await settle();
    expect(newer.destroyed).toBe(false);
    expect(a.e.epochOf('ctl-1')).toBeUndefined();
    expect(await a.e.owner('ctl-1')).toMatchObject({ instance: 'b', epoch: e });
    expect(await a.e.open('ctl-1', new Conn('newest'), { generation: 8 })).toBeGreaterThan(e);
    await settle();
    expect(newer.destroyed).toBe(true); // a newer generation takes the peer as usual
    await expect(a.e.open('ctl-1', new Conn('x'), { generation: -1 })).rejects.toThrow(
      /options\.generation/,
    );
  });

  it('close forgets the owner in Redis only while it is still this one', async () => {
    const server = new FakeRedisServer();
    const a = fleet(server, 'a');
    const b = fleet(server, 'b');
    const c = new Conn('c');
    await a.e.open('ctl-1', c);
    expect(a.e.close('ctl-1', new Conn('other'))).toBe(false);
    expect(a.e.close('ctl-1', c)).toBe(true);
    await settle();
    expect(await b.e.owner('ctl-1')).toBeUndefined();
    const old = new Conn('old');
    await a.e.open('ctl-2', old);
    const e = await b.e.open('ctl-2', new Conn('new'));
    await settle();
    expect(a.e.close('ctl-2', old)).toBe(false); // already revoked
    expect(await a.e.owner('ctl-2')).toMatchObject({ instance: 'b', epoch: e });
  });

  it('while Redis is unreachable, opens are refused with UNAVAILABLE and nothing is registered', async () => {
    const server = new FakeRedisServer();
    const a = fleet(server, 'a');
    a.redis.down();
    const c = new Conn('c');
    await expect(a.e.open('ctl-1', c)).rejects.toMatchObject({
      code: codes.UNAVAILABLE,
      peer: 'ctl-1',
      instance: 'a',
    });
    expect(a.e.epochOf('ctl-1')).toBeUndefined();
    expect(a.e.stats()).toMatchObject({ refused: 1, connected: false, owned: 0 });
  });

  it('a Redis that does not answer refuses the open after timeoutMs and reconciles once it answers', async () => {
    vi.useFakeTimers();
    const server = new FakeRedisServer();
    const a = fleet(server, 'a', { timeoutMs: 200, reconcileEveryMs: 500 });
    a.redis.silent = true;
    const opening = a.e.open('ctl-1', new Conn('c'));
    const seen = expect(opening).rejects.toMatchObject({ code: codes.UNAVAILABLE });
    await vi.advanceTimersByTimeAsync(200);
    await seen;
    expect(a.e.connected).toBe(false);
    await expect(a.e.open('ctl-1', new Conn('d'))).rejects.toMatchObject({
      code: codes.UNAVAILABLE,
    });
    a.redis.silent = false;
    await vi.advanceTimersByTimeAsync(2000);
    expect(a.e.connected).toBe(true);
    expect(await a.e.open('ctl-1', new Conn('e'))).toBeGreaterThan(0);
  });

  it('an open whose script runs past half of timeoutMs changes nothing in Redis: no owner recorded for a refused open', async () => {
    // The script ran 600 ms after the open was sent (Redis TIME against the instance's clock).
    // Its deadline used to be the JS timer's (1000 ms): it recorded a as the owner and broadcast,
    // and its reply, due after the JS timer, reached a caller already told UNAVAILABLE. Now the
    // script's deadline is timeoutMs / 2, so a script that records anything answers in time
    // unless the clocks differ or the reply takes longer than the other half.
    vi.useFakeTimers();
    const server = new FakeRedisServer();
    server.timeUs = 5_000_000_000;
    const a = fleet(server, 'a', { timeoutMs: 1000, now: () => 5_000_000 - 600 });
    await vi.advanceTimersByTimeAsync(0);
    server.manual = true;
    const opening = a.e.open('ctl-1', new Conn('c')).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000); // the reply is held: the JS timer fires first
    expect(await opening).toMatchObject({ code: codes.UNAVAILABLE });
    expect(server.hashes.size).toBe(0); // before: a recorded as the owner, and broadcast
  });

  it('an open whose reply comes after the timer is forgotten in Redis when the reply arrives', async () => {
    // The script ran in time but its reply was late (the instance's clock ahead of Redis's, or a
    // slow return path): the caller was told UNAVAILABLE while Redis named a as the owner at an
    // epoch no connection holds. Before, that record stayed until the peer's next open.
    vi.useFakeTimers();
    const server = new FakeRedisServer();
    server.timeUs = 5_000_000_000;
    const a = fleet(server, 'a', { timeoutMs: 1000, now: () => 5_000_000 });
    await vi.advanceTimersByTimeAsync(0);
    server.manual = true;
    const opening = a.e.open('ctl-1', new Conn('c')).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await opening).toMatchObject({ code: codes.UNAVAILABLE });
    const key = [...server.hashes.keys()][0]!;
    expect(server.hashes.get(key)).toMatchObject({ instance: 'a' }); // the script had run
    const epoch = server.hashes.get(key)!.epoch;
    a.redis.deliver(); // the late reply
    await vi.advanceTimersByTimeAsync(0);
    expect(server.hashes.get(key)?.instance).toBeUndefined();
    expect(server.hashes.get(key)?.epoch).toBe(epoch); // epochs still only grow
  });

  it('an open refused by the script names the deadline it had: half of timeoutMs', async () => {
    const server = new FakeRedisServer();
    server.timeUs = 5_000_000_000;
    const a = fleet(server, 'a', { timeoutMs: 1000, now: () => 5_000_000 - 600 });
    await expect(a.e.open('ctl-1', new Conn('c'))).rejects.toMatchObject({
      code: codes.UNAVAILABLE,
      message: expect.stringMatching(/after its 500 ms deadline \(half of timeoutMs\)/),
    });
    expect(server.hashes.size).toBe(0);
  });

  it('a supersede lost while disconnected is found at reconciliation: the loser is revoked and reported', async () => {
    const server = new FakeRedisServer();
    const a = fleet(server, 'a');
    const b = fleet(server, 'b');
    const lost = listen('lost');
    const reconciled = listen('reconciled');
    const old = new Conn('old');
    const e1 = await a.e.open('ctl-1', old);
    a.sub.down(); // a hears nothing now
    const e2 = await b.e.open('ctl-1', new Conn('new'));
    await settle();
    expect(old.destroyed).toBe(false); // the broadcast was lost
    a.sub.up();
    await settle();
    await a.e.reconcile();
    lost.off();
    reconciled.off();
    expect(old.destroyed).toBe(true);
    expect(a.e.epochOf('ctl-1')).toBeUndefined();
    expect(lost).toContainEqual({
      peer: 'ctl-1',
      oldEpoch: e1,
      epoch: e2,
      instance: 'a',
      owner: 'b',
    });
    expect(reconciled).toContainEqual(
      expect.objectContaining({ instance: 'a', checked: 1, revoked: 1 }),
    );
    expect(a.e.stats()).toMatchObject({ lost: 1, connected: true });
  });

  it('a reconcile in flight when the subscriber drops runs again: a supersede lost in the blip is found before opens are accepted', async () => {
    // Before the fix the 'ready' resync joined the run in flight, whose read predates the blip:
    // it ended with connected = true, the old connection kept serving and opens were accepted.
    // The retry timer is far out (60 s), so only a second pass of the same reconcile can find it.
    const server = new FakeRedisServer();
    const a = fleet(server, 'a', { reconcileEveryMs: 60_000 });
    const b = fleet(server, 'b');
    await settle();
    const old = new Conn('old');
    await a.e.open('ctl-1', old);
    server.manual = true;
    const running = a.e.reconcile(); // its script ran at Redis: 'kept'; the reply is in flight
    a.sub.down(); // the blip: b's broadcast below is lost for a
    const other = b.e.open('ctl-1', new Conn('new'));
    b.redis.deliver();
    const e2 = await other;
    a.sub.up(); // subscribed again, and the resync joins the run in flight
    await server.drain();
    await running;
    expect(old.destroyed).toBe(true);
    expect(a.e.epochOf('ctl-1')).toBeUndefined();
    expect(a.e.stats()).toMatchObject({ lost: 1, connected: true });
    server.manual = false;
    expect(await b.e.owner('ctl-1')).toMatchObject({ instance: 'b', epoch: e2 });
  });

  it('a reconcile in flight when the subscriber drops for good does not mark the instance reconciled', async () => {
    // Before the fix the run ended with connected = true while the subscriber was still down.
    const server = new FakeRedisServer();
    const a = fleet(server, 'a', { reconcileEveryMs: 60_000 });
    await settle();
    server.manual = true;
    const running = a.e.reconcile().catch((e: unknown) => e);
    a.sub.down();
    await server.drain();
    expect(await running).toMatchObject({ code: codes.UNAVAILABLE, instance: 'a' });
    expect(a.e.connected).toBe(false);
    await expect(a.e.open('ctl-1', new Conn('c'))).rejects.toMatchObject({
      code: codes.UNAVAILABLE,
    });
  });

  it('after a Redis restart that kept nothing, reconciliation re-records the owners and the highest epoch wins', async () => {
    const server = new FakeRedisServer();
    const a = fleet(server, 'a');
    const b = fleet(server, 'b');
    const older = new Conn('older');
    const newer = new Conn('newer');
    await a.e.open('ctl-1', older);
    a.sub.down(); // a misses b's broadcast: both hold a connection for ctl-1
    const e2 = await b.e.open('ctl-1', newer);
    server.flush();
    a.sub.up();
    await settle();
    await b.e.reconcile(); // b claims first, then a finds it lost
    await a.e.reconcile();
    await settle();
    expect(older.destroyed).toBe(true);
    expect(newer.destroyed).toBe(false);
    expect(await a.e.owner('ctl-1')).toMatchObject({ instance: 'b', epoch: e2 });
    expect(b.e.stats().claimed).toBe(1);
    // An open after the restart is still higher than every epoch before it.
    expect(await a.e.open('ctl-1', new Conn('later'))).toBeGreaterThan(e2);
  });

  it("a claim at reconciliation drops the previous owner's generation: a newer open is not refused", async () => {
    // Redis comes back from a snapshot taken while x owned ctl-1 with generation 9 (the peer
    // restarted its counter since). a's claim used to keep x's gen 9 next to a's own epoch, so
    // the peer's next connection (generation 4, newer than a's 3) was refused with SUPERSEDED.
    const server = new FakeRedisServer();
    const x = fleet(server, 'x');
    const a = fleet(server, 'a');
    const b = fleet(server, 'b');
    await settle();
    const first = new Conn('first');
    await x.e.open('ctl-1', first, { generation: 9 });
    const snapshot = structuredClone([...server.hashes]);
    x.e.close('ctl-1', first);
    await settle();
    await a.e.open('ctl-1', new Conn('held'), { generation: 3 });
    server.flush();
    for (const [key, h] of snapshot) server.hashes.set(key, h);
    await a.e.reconcile();
    expect(a.e.stats().claimed).toBe(1);
    const e = await b.e.open('ctl-1', new Conn('newer'), { generation: 4 });
    expect(await a.e.owner('ctl-1')).toMatchObject({ instance: 'b', epoch: e });
  });

  it('a lower epoch claiming first is revoked by the higher claim broadcast', async () => {
    const server = new FakeRedisServer();
    const a = fleet(server, 'a');
    const b = fleet(server, 'b');
    const older = new Conn('older');
    await a.e.open('ctl-1', older);
    a.sub.down();
    await b.e.open('ctl-1', new Conn('newer'));
    server.flush();
    a.sub.up();
    await settle();
    await a.e.reconcile(); // a claims its (older) epoch
    expect(older.destroyed).toBe(false);
    await b.e.reconcile(); // b's higher epoch wins and is broadcast
    await settle();
    expect(older.destroyed).toBe(true);
    expect(a.e.size + b.e.size).toBe(1);
  });

  it('malformed pub/sub payloads are counted and reported, never thrown', async () => {
    const server = new FakeRedisServer();
    const a = fleet(server, 'a');
    const malformed = listen('malformed');
    const c = new Conn('c');
    await a.e.open('ctl-1', c);
    const bad: unknown[] = [
      'not json',
      '{"v":1,"peer":"ctl-1","instance":"x","epoch":"9"}',
      '{"v":1,"peer":"ctl-1","instance":"x","epoch":1e300}',
      '{"v":2,"peer":"ctl-1","instance":"x","epoch":9}',
      'null',
      'x'.repeat(10_000),
      Buffer.from('{}'),
      '{"__proto__":{"v":1},"peer":"ctl-1"}',
    ];
    for (const p of bad) server.publish(a.e.channel, p);
    await settle();
    malformed.off();
    expect(a.e.stats().malformed).toBe(bad.length);
    expect(malformed).toHaveLength(bad.length);
    expect(c.destroyed).toBe(false);
    expect(a.e.epochOf('ctl-1')).toBeGreaterThan(0);
  });

  it('shutdown rejects a pending open with CLOSED, removes its listeners and disconnects its own subscriber', async () => {
    const server = new FakeRedisServer();
    const a = fleet(server, 'a');
    a.redis.silent = true;
    const opening = a.e.open('ctl-1', new Conn('c'));
    await a.e.shutdown();
    await expect(opening).rejects.toMatchObject({ code: codes.CLOSED });
    expect(a.redis.listenerCount('ready') + a.redis.listenerCount('close')).toBe(0);
    expect(a.sub.listenerCount('message')).toBe(0);
    expect((a.sub as FakeClient).disconnected).toBe(true);
    await expect(a.e.owner('ctl-1')).rejects.toMatchObject({ code: codes.CLOSED });
  });

  it('shutdown leaves no timer behind: round-trip deadlines and the reconcile retry are cleared', async () => {
    vi.useFakeTimers();
    const server = new FakeRedisServer();
    const a = fleet(server, 'a', { timeoutMs: 100, reconcileEveryMs: 1000 });
    const b = fleet(server, 'b');
    await vi.advanceTimersByTimeAsync(0);
    await a.e.open('p1', new Conn('1'));
    await b.e.open('p1', new Conn('2'));
    a.redis.silent = true;
    const late = a.e.open('p2', new Conn('3')).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100); // the deadline fires; a reconcile retry is scheduled
    expect(await late).toMatchObject({ code: codes.UNAVAILABLE });
    const pending = a.e.owner('p1').catch((e: unknown) => e); // a deadline timer pending
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    await a.e.shutdown();
    await b.e.shutdown();
    expect(await pending).toMatchObject({ code: codes.CLOSED });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a given subscriber is unsubscribed at shutdown, not disconnected', async () => {
    const server = new FakeRedisServer();
    const redis = new FakeClient(server);
    const subscriber = new FakeClient(server);
    const e = new FleetEpochs({ redis, subscriber, instance: 'a' });
    await settle();
    expect(subscriber.channels.has(e.channel)).toBe(true);
    await e.shutdown();
    expect(subscriber.channels.size).toBe(0);
    expect(subscriber.disconnected).toBe(false);
  });

  it('options are checked, naming the option', () => {
    const redis = new FakeClient(new FakeRedisServer());
    expect(() => new FleetEpochs({ redis, instance: '' })).toThrow(/options\.instance/);
    expect(() => new FleetEpochs({ redis: {} as never, instance: 'a' })).toThrow(/options\.redis/);
    expect(() => new FleetEpochs({ redis, instance: 'a', timeoutMs: -1 })).toThrow(
      /options\.timeoutMs/,
    );
    expect(() => new FleetEpochs({ redis, instance: 'a', timeoutMS: 1 } as never)).toThrow(
      /did you mean options\.timeoutMs/,
    );
  });
});
