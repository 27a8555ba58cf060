// @halfopen/epochs-redis against a real redis-server (started here, as the tests do): the cost
// of one `open` (one Lua script: epoch, owner record, PUBLISH) against what a user would write
// without it (MULTI with INCR + HSET + PUBLISH, also one round trip) and the floor (PING); and the supersede fan-out to 8 instances
// (each with its own command and subscriber connection) against a bare PUBLISH to 8 subscribers.
import diagnostics from 'node:diagnostics_channel';
import { FleetEpochs } from '@halfopen/epochs-redis';
import { Redis } from 'ioredis';
// The test kit's Redis starter, from source (the bench package does not depend on the test kit).
import { startRedis } from '../packages/testkit/src/redis.js';
import { asyncOpsPerSec, type Measurement, type Scenario } from './harness.js';

const INSTANCES = 8;

async function withFleet<T>(
  instances: number,
  body: (fleet: FleetEpochs<object>[], clients: Redis[], port: number) => Promise<T>,
): Promise<T> {
  const server = await startRedis();
  const clients: Redis[] = [];
  const fleet: FleetEpochs<object>[] = [];
  try {
    for (let i = 0; i < instances; i++) {
      const redis = new Redis({ port: server.port, host: '127.0.0.1' });
      clients.push(redis);
      fleet.push(new FleetEpochs<object>({ redis, instance: `i${i}`, onSupersede: () => {} }));
    }
    while (fleet.some((e) => e.stats().reconciles === 0))
      await new Promise((r) => setTimeout(r, 10));
    return await body(fleet, clients, server.port);
  } finally {
    for (const e of fleet) await e.shutdown();
    for (const c of clients) c.disconnect();
    await server.stop();
  }
}

async function openCost(): Promise<Measurement[]> {
  // One instance (its own subscriber hears its own supersedes, as in a fleet).
  return withFleet(1, async (fleet, clients) => {
    const e = fleet[0]!;
    const redis = clients[0]!;
    let n = 0;
    const conn = {};
    // Each open supersedes the last (same peer) or takes a new one: both are one script.
    const opens = await asyncOpsPerSec(() => e.open(`peer-${n++ % 1000}`, conn));
    // What a user would write without the package: INCR + HSET + PUBLISH in one MULTI, and a
    // subscriber of its own that parses each supersede (as every instance must).
    const sub = redis.duplicate();
    await sub.subscribe('bench:supersede');
    let heard = 0;
    sub.on('message', (_channel: string, payload: string) => {
      if (JSON.parse(payload).peer) heard++;
    });
    let m = 0;
    const multi = await asyncOpsPerSec(() => {
      const peer = `peer-${m++ % 1000}`;
      return redis
        .multi()
        .incr(`bench:epoch:${peer}`)
        .hset(`bench:owner:${peer}`, 'instance', 'i0', 'since', Date.now())
        .publish('bench:supersede', `{"v":1,"peer":"${peer}"}`)
        .exec();
    });
    sub.disconnect();
    if (heard === 0) throw new Error('the rival heard nothing');
    const ping = await asyncOpsPerSec(() => redis.ping());
    return [
      { name: 'FleetEpochs.open (one script round trip)', value: opens, unit: 'opens/s' },
      { name: 'MULTI INCR + HSET + PUBLISH, own subscriber', value: multi, unit: 'round trips/s' },
      { name: 'PING round trip (the floor)', value: ping, unit: 'round trips/s' },
    ];
  });
}

async function fanOut(): Promise<Measurement[]> {
  return withFleet(INSTANCES, async (fleet, clients, port) => {
    // ours: an open on instance 0 until every one of the 8 instances received its supersede
    let received = 0;
    let wake: (() => void) | undefined;
    const onReceived = () => {
      if (++received % INSTANCES === 0) wake?.();
    };
    diagnostics.subscribe('halfopen:epochs-redis:received', onReceived);
    let n = 0;
    const conn = {};
    const ours = await asyncOpsPerSec(async () => {
      const all = new Promise<void>((r) => {
        wake = r;
      });
      await fleet[0]!.open(`peer-${n++ % 1000}`, conn);
      await all;
    });
    diagnostics.unsubscribe('halfopen:epochs-redis:received', onReceived);
    // rival: a bare PUBLISH from one connection until 8 subscribers got it
    const subs: Redis[] = [];
    let got = 0;
    let done: (() => void) | undefined;
    for (let i = 0; i < INSTANCES; i++) {
      const s = new Redis({ port, host: '127.0.0.1' });
      subs.push(s);
      await s.subscribe('bench:bare');
      s.on('message', () => {
        if (++got % INSTANCES === 0) done?.();
      });
    }
    const bare = await asyncOpsPerSec(async () => {
      const all = new Promise<void>((r) => {
        done = r;
      });
      await clients[0]!.publish('bench:bare', '{"v":1}');
      await all;
    });
    for (const s of subs) s.disconnect();
    return [
      { name: `open + supersede received by ${INSTANCES} instances`, value: ours, unit: 'opens/s' },
      { name: `PUBLISH received by ${INSTANCES} subscribers`, value: bare, unit: 'publishes/s' },
    ];
  });
}

const scenarios: Scenario[] = [
  {
    name: 'epochs-redis: one open vs a hand-written MULTI (INCR + HSET + PUBLISH)',
    ours: 'FleetEpochs.open (one script round trip)',
    rival: 'MULTI INCR + HSET + PUBLISH, own subscriber',
    higherIsBetter: true,
    target: 0.5,
    run: openCost,
  },
  {
    name: `epochs-redis: supersede fan-out to ${INSTANCES} instances vs a bare PUBLISH`,
    ours: `open + supersede received by ${INSTANCES} instances`,
    rival: `PUBLISH received by ${INSTANCES} subscribers`,
    higherIsBetter: true,
    target: 0.5,
    run: fanOut,
  },
];
export default scenarios;
