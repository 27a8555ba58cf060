// Incident 2 behind a load balancer: three push nodes. A works; B takes the rare path at quote 5
// and never releases its consumer lock (frozen: it accepts subscribers and pushes nothing); C is
// one of the forgotten nodes on an obsolete topic (its consumer gets no quotes at all). New
// subscribers arrive through the balancer. With TCP-connect probes every node passes and two
// subscribers in three land on a node that pushes nothing; with @halfopen/health readiness
// (B: its lock held past warnAfterMs, naming the holder; C: no quote pushed while subscribers
// wait) both leave the balancer within the check interval.
import net from 'node:net';
import { balancer, healthServer as serveHealth, sendThrough } from '../balancer.mjs';
import { pushHealth } from './health.mjs';
import { pushService } from './server.mjs';

export const INTERVAL_MS = 100; // health checks and balancer probes
const WARN_MS = 100; // the lock's warnAfterMs
const STALL_MS = 300; // a node with subscribers must push at least this often
const SUBSCRIBERS = 45;
const SPACING_MS = 40;
const WAIT_MS = 300; // a subscriber that gets no quote within this reached a node that does not work

const listen = (server) =>
  new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));

/**
 * One push node with its health endpoint. `fault`: 'none', 'frozen-lock' (quote 5 keeps the
 * lock) or 'stopped-consumer' (no quote ever arrives: an obsolete topic).
 */
export async function pushNode(name, fault = 'none') {
  const node = { name, fault, faultAt: undefined, firstSubscriberAt: undefined };
  // A LeaseLock with a stall warning but no lease in reach: the lock stays held, as in the
  // incident, and health reports who holds it.
  const svc = pushService({
    guarded: true,
    leaseMs: 3_600_000,
    warnAfterMs: WARN_MS,
    quoteBytes: 256,
    forgets: (i) => {
      if (fault !== 'frozen-lock' || i !== 5) return false;
      node.faultAt = Date.now();
      return true;
    },
  });
  const health = pushHealth(svc, { intervalMs: INTERVAL_MS, stallMs: STALL_MS });
  const healthServer = serveHealth(health);
  node.port = await listen(svc.server);
  node.healthPort = await listen(healthServer);
  let i = 0;
  const feed = setInterval(() => {
    if (fault !== 'stopped-consumer') void svc.consume(i++); // a frozen node's calls wait on the lock
  }, 10);
  Object.assign(node, {
    svc,
    health,
    async close() {
      clearInterval(feed);
      health.close();
      for (const s of svc.subscribers) s.destroy();
      healthServer.closeAllConnections();
      await Promise.all([
        new Promise((r) => svc.server.close(r)),
        new Promise((r) => healthServer.close(r)),
      ]);
    },
  });
  return node;
}

/** A subscriber: resolves true when a quote arrives within WAIT_MS. Stays connected (apps do). */
function subscribe(node, open) {
  node.firstSubscriberAt ??= Date.now();
  return new Promise((resolve) => {
    const s = net.connect(node.port, '127.0.0.1');
    open.push(s);
    s.on('error', () => {});
    const timer = setTimeout(() => resolve(false), WAIT_MS);
    s.once('data', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function run(probe, progress) {
  const nodes = [
    await pushNode('A', 'none'),
    await pushNode('B', 'frozen-lock'),
    await pushNode('C', 'stopped-consumer'),
  ];
  const lb = await balancer(nodes, { probe, intervalMs: INTERVAL_MS });
  const open = [];
  const { reached, series } = await sendThrough(lb, {
    count: SUBSCRIBERS,
    spacingMs: SPACING_MS,
    attempt: (node) => subscribe(node, open),
  });
  lb.stop();
  const out = (n) => {
    const since = n.fault === 'frozen-lock' ? n.faultAt : n.firstSubscriberAt;
    return n.up || n.downAt === undefined || since === undefined
      ? undefined
      : { afterMs: Math.max(0, n.downAt - since), reason: n.downReason };
  };
  const result = {
    reached,
    of: SUBSCRIBERS,
    frozen: out(nodes[1]),
    stopped: out(nodes[2]),
    series,
  };
  progress(
    `balancer with ${probe === 'tcp' ? 'TCP-connect probes' : '@halfopen/health readiness'}: ${reached}/${SUBSCRIBERS} subscribers reached a working node${result.frozen ? `; frozen node out ${result.frozen.afterMs} ms after its lock froze (${result.frozen.reason})` : ''}${result.stopped ? `; obsolete-topic node out ${result.stopped.afterMs} ms after its first subscriber` : ''}`,
  );
  for (const s of open) s.destroy();
  await Promise.all(nodes.map((n) => n.close()));
  return result;
}

/** Both balancer runs: `{ tcp, health, summary }`, each run `{ reached, of, frozen, stopped, series }`. */
export async function balanced(progress = () => {}) {
  const tcp = await run('tcp', progress);
  const health = await run('http', progress);
  const out = (n, what) => (n ? `; ${what} node out after ${n.afterMs} ms (${n.reason})` : '');
  return {
    tcp,
    health,
    summary: `subscribers reaching a working node: TCP-connect probes ${tcp.reached}/${tcp.of}, @halfopen/health readiness ${health.reached}/${health.of}${out(health.frozen, 'frozen')}${out(health.stopped, 'obsolete-topic')}`,
  };
}
