import { rearm } from '@halfopen/rearm';
import { startZooKeeper, waitFor, withNetns, type ZooKeeperServer } from '@halfopen/testkit';
import zookeeper from 'node-zookeeper-client';
import { describe, expect, it } from 'vitest';
import { zookeeperChildren } from '../src/index.js';

// A real ZooKeeper 3.8 started by the test run, inside a network namespace of the test's own so
// that a partition longer than the session timeout (an iptables black hole) expires sessions
// for real. Deploys roll like Kubernetes: 25% new ephemeral children appear, then as many old
// ones vanish, quickly.

const PATH = '/services/payments';
let zk: ZooKeeperServer;
let deployer: zookeeper.Client;

const connectClient = (options: object = {}) =>
  new Promise<zookeeper.Client>((resolve, reject) => {
    const c = zookeeper.createClient(zk.connectString, {
      sessionTimeout: 8000,
      retries: 5,
      ...options,
    });
    const t = setTimeout(() => reject(new Error('deployer could not connect')), 10_000);
    c.once('connected', () => {
      clearTimeout(t);
      resolve(c);
    });
    c.connect();
  });
const call = <T>(fn: (cb: (err: unknown, r?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, r) => (err ? reject(err) : resolve(r as T))));
const children = async () =>
  (await call<string[]>((cb) => deployer.getChildren(PATH, (e, c) => cb(e, c)))).sort();
const create = (name: string) =>
  call((cb) =>
    deployer.create(
      `${PATH}/${name}`,
      Buffer.from('10.0.0.1:9000'),
      zookeeper.CreateMode.EPHEMERAL,
      (e) => cb(e),
    ),
  );
const remove = (name: string) => call((cb) => deployer.remove(`${PATH}/${name}`, -1, (e) => cb(e)));

let serial = 0;
async function rollingDeploy(pods: string[]): Promise<void> {
  const quarter = Math.max(1, pods.length / 4);
  const fresh = Array.from({ length: quarter }, () => `pod-${++serial}`);
  for (const p of fresh) await create(p);
  for (const p of pods.splice(0, quarter)) await remove(p);
  pods.push(...fresh);
}

/** Runs `body` with a ZooKeeper and a connected deployer inside a fresh namespace. */
async function withZooKeeper(
  body: (ns: Parameters<Parameters<typeof withNetns>[0]>[0]) => Promise<void>,
): Promise<void> {
  await withNetns(async (ns) => {
    zk = await startZooKeeper({ tickMs: 200 });
    try {
      deployer = await connectClient();
      await call((cb) => deployer.mkdirp(PATH, (e) => cb(e)));
      await body(ns);
    } finally {
      deployer?.close();
      await zk.stop();
    }
  });
}

describe('rearm over a real ZooKeeper', () => {
  it('follows 200 rolling deploys, a server restart and a session expiry, converging after each', async () => {
    await withZooKeeper(async (ns) => {
      const source = zookeeperChildren({
        path: PATH,
        connectionString: zk.connectString,
        sessionTimeoutMs: 4000,
        handshakeTimeoutMs: 2000,
      });
      const view = rearm(source, {
        retry: { minDelayMs: 50, maxDelayMs: 500 },
        resyncIntervalMs: 5000,
        name: 'payments',
      });
      const published: bigint[] = [];
      view.subscribe((_v, version) => published.push(version));
      const stales: string[] = [];
      try {
        const pods: string[] = [];
        for (let i = 0; i < 8; i++) {
          pods.push(`pod-${++serial}`);
          await create(pods.at(-1)!);
        }
        await view.ready;
        for (let round = 1; round <= 200; round++) {
          await rollingDeploy(pods);
          const want = (await children()).join(',');
          await waitFor(
            () => view.current?.value.join(',') === want,
            `round ${round} to converge`,
            { timeoutMs: 10_000 },
          );
          if (round === 100) {
            const eventsBefore = view.stats().events;
            await zk.restart({ downMs: 500 });
            // The restart closed the view's connection: its watch resolved as lost.
            await waitFor(
              () => view.stats().events > eventsBefore,
              'the view to notice the restart',
            );
            stales.push('restart');
          }
          if (round === 150) {
            // A partition longer than the session timeout (4 s at most here): the server expires
            // every session; when it heals, the view's client learns it expired and is rebuilt.
            const rules = await ns.blackhole(zk.port);
            await waitFor(() => view.state === 'stale', 'the view to go stale', {
              timeoutMs: 10_000,
            });
            await new Promise((r) => setTimeout(r, 5500));
            await ns.remove(rules);
            await waitFor(() => source.clientsCreated >= 2, 'a new client after expiry', {
              timeoutMs: 15_000,
            });
            stales.push('expired');
            // The deployer's session expired too, and its ephemeral pods with it: deploy again.
            deployer.close();
            deployer = await connectClient();
            pods.length = 0;
            for (let i = 0; i < 8; i++) {
              pods.push(`pod-${++serial}`);
              await create(pods.at(-1)!);
            }
          }
        }
        expect(view.state).toBe('synced');
        expect(stales).toEqual(['restart', 'expired']);
        for (let i = 1; i < published.length; i++)
          expect(published[i]! > published[i - 1]!).toBe(true);
        const st = view.stats();
        expect(st.reads).toBeLessThanOrEqual(st.events + st.errors + st.resyncs + 1);
      } finally {
        view.close();
        source.close();
      }
    });
  });

  it('in the same harness, the naive loop (read without a watch, re-arm afterwards) misses changes', async () => {
    await withZooKeeper(async () => {
      const client = await connectClient();
      let naive: string[] = [];
      let misses = 0;
      const onEvent = async () => {
        naive = (await call<string[]>((cb) => client.getChildren(PATH, (e, c) => cb(e, c)))).sort(); // unwatched read
        await new Promise((r) => setTimeout(r, 30)); // "read each child"
        client.getChildren(
          PATH,
          () => void onEvent(),
          () => {},
        ); // re-arm; its result is thrown away
      };
      await onEvent();
      const pods = (await children()).slice();
      for (let round = 0; round < 30; round++) {
        await rollingDeploy(pods);
        await new Promise((r) => setTimeout(r, 100));
        if (naive.join(',') !== (await children()).join(',')) misses++;
      }
      client.close();
      expect(misses).toBeGreaterThan(0);
    });
  });
});
