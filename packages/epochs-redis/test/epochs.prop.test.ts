import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codes, FleetEpochs } from '../src/index.js';
import { FakeClient, FakeRedisServer } from './fake-redis.js';

// Three simulated instances on one (in-memory) Redis. Every reply and every pub/sub message is
// held until the property delivers it, so any interleaving of opens, closes, replies and
// supersede deliveries across the instances is tried (in order per connection, as TCP gives).
// Once everything is delivered: at most one instance holds each peer, and it is the owner Redis
// records, with the highest epoch ever handed out for that peer.

const INSTANCES = ['a', 'b', 'c'];
const PEERS = ['p1', 'p2'];

type Action =
  | { kind: 'open'; at: number; peer: string }
  | { kind: 'close'; at: number; peer: string }
  | { kind: 'reply'; at: number }
  | { kind: 'message'; at: number }
  | { kind: 'lose'; at: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    kind: fc.constant('open' as const),
    at: fc.nat({ max: 2 }),
    peer: fc.constantFrom(...PEERS),
  }),
  fc.record({
    kind: fc.constant('close' as const),
    at: fc.nat({ max: 2 }),
    peer: fc.constantFrom(...PEERS),
  }),
  fc.record({ kind: fc.constant('reply' as const), at: fc.nat({ max: 2 }) }),
  fc.record({ kind: fc.constant('message' as const), at: fc.nat({ max: 2 }) }),
);
// The same, and an instance's subscriber dropping (what it had not delivered is lost) and coming back.
const withLoss: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: action, weight: 6 },
  {
    arbitrary: fc.record({ kind: fc.constant('lose' as const), at: fc.nat({ max: 2 }) }),
    weight: 1,
  },
);

interface Conn {
  id: number;
  destroyed: boolean;
  destroy(): void;
}

async function run(actions: Action[], reconcileAtEnd = false): Promise<void> {
  const server = new FakeRedisServer();
  server.manual = true;
  const nodes = INSTANCES.map((instance) => {
    const redis = new FakeClient(server);
    const e = new FleetEpochs<Conn>({ redis, instance, timeoutMs: 60_000 });
    const sub = [...server.clients].at(-1)!;
    return { e, redis, sub, conns: new Map<string, Conn>() };
  });
  await server.drain(); // subscribed and reconciled
  let next = 0;
  const pending: Array<Promise<unknown>> = [];
  const epochs = new Map<string, number>(); // highest epoch handed out per peer
  for (const a of actions) {
    const n = nodes[a.at]!;
    if (a.kind === 'open') {
      const conn: Conn = {
        id: next++,
        destroyed: false,
        destroy() {
          this.destroyed = true;
        },
      };
      n.conns.set(a.peer, conn);
      pending.push(
        n.e.open(a.peer, conn).then(
          (epoch) => {
            epochs.set(a.peer, Math.max(epochs.get(a.peer) ?? 0, epoch));
          },
          (error) => {
            // refused while its subscriber was away: the script never ran
            if (error.code !== codes.UNAVAILABLE) throw error;
          },
        ),
      );
    } else if (a.kind === 'close') {
      const conn = n.conns.get(a.peer);
      if (conn) n.e.close(a.peer, conn);
    } else if (a.kind === 'reply') n.redis.deliver();
    else if (a.kind === 'message') n.sub.deliver();
    else {
      n.sub.down(); // what it had not delivered is lost
      n.sub.up();
    }
    await Promise.resolve();
  }
  await server.drain();
  await Promise.all(pending);
  await server.drain();
  if (reconcileAtEnd) {
    const done = Promise.all(nodes.map((n) => n.e.reconcile()));
    await server.drain();
    await done;
    await server.drain();
  }
  for (const peer of PEERS) {
    const holders = nodes.filter((n) => n.e.epochOf(peer) !== undefined);
    const record = server.hashes.get(`halfopen:epochs:${peer}`);
    expect(holders.length).toBeLessThanOrEqual(1);
    if (record?.instance) {
      expect(holders.map((n) => n.e.instance)).toEqual([record.instance]);
      expect(holders[0]!.e.epochOf(peer)).toBe(Number(record.epoch));
      expect(Number(record.epoch)).toBe(epochs.get(peer));
      expect(holders[0]!.e.current(peer)!.conn.destroyed).toBe(false);
    } else expect(holders).toEqual([]);
    // Every connection not held is one that was superseded (destroyed) or closed by us.
  }
  for (const n of nodes) await n.e.shutdown();
}

describe('FleetEpochs across 3 instances (property)', () => {
  it('any interleaving of opens, closes and deliveries ends with one owner per peer: the highest epoch', async () => {
    await fc.assert(fc.asyncProperty(fc.array(action, { maxLength: 40 }), (a) => run(a)));
  });

  it('with subscribers dropping (supersedes lost), reconciliation still ends with one owner per peer: the highest epoch', async () => {
    await fc.assert(fc.asyncProperty(fc.array(withLoss, { maxLength: 40 }), (a) => run(a, true)));
  });
});
