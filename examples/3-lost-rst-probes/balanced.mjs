// Incident 3 behind a load balancer: three worker-pool nodes (4 workers each, no read
// deadline). Node B receives connections that never send (health probes whose RSTs were lost):
// every worker blocks on one, while accept() still succeeds. Real requests go through the
// balancer. With TCP-connect probes B keeps passing and one request in three hangs there; with
// @halfopen/health readiness over HTTP (B: no request answered while connections queue) B
// leaves the balancer within the check interval.
import net from 'node:net';
import { balancer, healthServer as serveHealth, sendThrough } from '../balancer.mjs';
import { workerHealth } from './health.mjs';
import { request, workerPoolServer } from './server.mjs';

export const INTERVAL_MS = 100; // health checks and balancer probes
const WORKERS = 4;
const STALL_MS = 300; // a node with queued connections must answer one at least this often
const REQUESTS = 45;
const SPACING_MS = 40;
const WAIT_MS = 300; // a request unanswered within this reached a node that does not work

const listen = (server) =>
  new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));

/** One worker-pool node with its health endpoint; `stuck()` sends it silent connections. */
export async function workerNode(name) {
  const { server, stats } = workerPoolServer({ workers: WORKERS, guarded: false });
  const health = workerHealth(stats, {
    workers: WORKERS,
    intervalMs: INTERVAL_MS,
    stallMs: STALL_MS,
  });
  const healthServer = serveHealth(health);
  const silent = [];
  const node = {
    name,
    stats,
    health,
    faultAt: undefined,
    port: await listen(server),
    healthPort: await listen(healthServer),
    /** `n` connections that never send and never close, like probes whose RST was lost. */
    stuck(n = 2 * WORKERS) {
      node.faultAt ??= Date.now();
      for (let i = 0; i < n; i++)
        silent.push(net.connect(node.port, '127.0.0.1').on('error', () => {}));
    },
    async close() {
      health.close();
      for (const s of silent) s.destroy();
      healthServer.closeAllConnections();
      server.closeAllConnections?.();
      await new Promise((r) => healthServer.close(r));
      server.close();
    },
  };
  return node;
}

async function run(probe, progress) {
  const nodes = [await workerNode('A'), await workerNode('B'), await workerNode('C')];
  nodes[1].stuck();
  const lb = await balancer(nodes, { probe, intervalMs: INTERVAL_MS });
  const { reached, series } = await sendThrough(lb, {
    count: REQUESTS,
    spacingMs: SPACING_MS,
    attempt: (node) => request(node.port, WAIT_MS),
  });
  lb.stop();
  const b = nodes[1];
  const stuck =
    b.downAt === undefined
      ? undefined
      : { afterMs: Math.max(0, b.downAt - b.faultAt), reason: b.downReason };
  progress(
    `balancer with ${probe === 'tcp' ? 'TCP-connect probes' : '@halfopen/health readiness'}: ${reached}/${REQUESTS} requests reached a working node${stuck ? `; stuck node out ${stuck.afterMs} ms after its workers blocked (${stuck.reason})` : ''}`,
  );
  await Promise.all(nodes.map((n) => n.close()));
  return { reached, of: REQUESTS, stuck, series };
}

/** Both balancer runs: `{ tcp, health, summary }`, each run `{ reached, of, stuck, series }`. */
export async function balanced(progress = () => {}) {
  const tcp = await run('tcp', progress);
  const health = await run('http', progress);
  return {
    tcp,
    health,
    summary: `requests reaching a working node: TCP-connect probes ${tcp.reached}/${tcp.of}, @halfopen/health readiness ${health.reached}/${health.of}${health.stuck ? `; stuck node out after ${health.stuck.afterMs} ms (${health.stuck.reason})` : ''}`,
  };
}
