// A small health-checking load balancer for the lab (incidents 2 and 3): it probes each node
// every `intervalMs` and hands out the nodes that passed, round robin.
// - probe 'tcp': a node is up when a TCP connect succeeds (the naive setup, what the incidents'
//   load balancers did): a node that accepts connections but does no work passes.
// - probe 'http': a node is up when its health endpoint (@halfopen/health readiness) answers 200
//   within `timeoutMs`; the 503 body's reason is kept, so the table can say why a node left.
import http from 'node:http';
import net from 'node:net';
import { healthHandler } from '@halfopen/health';

function tcpProbe(port, timeoutMs) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (ok) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ ok, reason: ok ? 'connect succeeded' : 'connect failed' });
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function httpProbe(port, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        let reason = `HTTP ${res.statusCode}`;
        try {
          reason = JSON.parse(body).reason ?? reason;
        } catch {}
        clearTimeout(timer);
        resolve({ ok: res.statusCode === 200, reason });
      });
      res.on('error', () => {});
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` });
    }, timeoutMs);
    req.on('error', () => {
      clearTimeout(timer);
      resolve({ ok: false, reason: 'health endpoint unreachable' });
    });
  });
}

/**
 * `nodes`: `[{ name, port, healthPort }]`. Resolves once the first probe round is done.
 * `pick()` returns the next node that passed its last probe (all nodes when none passed).
 * Each node in `nodes` gets `up`, `reason` (of its last probe), `downAt` (Date.now() when it was
 * last taken out) and `downReason` (the probe's reason then).
 */
export async function balancer(nodes, { probe = 'tcp', intervalMs = 100, timeoutMs = 80 } = {}) {
  for (const n of nodes)
    Object.assign(n, { up: true, reason: '', downAt: undefined, downReason: '' });
  let next = 0;
  let stopped = false;
  let timer;
  const round = async () => {
    await Promise.all(
      nodes.map(async (n) => {
        const r =
          probe === 'tcp'
            ? await tcpProbe(n.port, timeoutMs)
            : await httpProbe(n.healthPort, timeoutMs);
        if (n.up && !r.ok) {
          n.downAt = Date.now();
          n.downReason = r.reason;
        }
        n.up = r.ok;
        n.reason = r.reason;
      }),
    );
    if (!stopped) timer = setTimeout(round, intervalMs);
  };
  await round();
  return {
    nodes,
    pick() {
      const up = nodes.filter((n) => n.up);
      const pool = up.length > 0 ? up : nodes;
      return pool[next++ % pool.length];
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * Sends `count` requests through `lb`, one every `spacingMs`, each `attempt(node)` resolving true
 * when it reached a working node; resolves `{ reached, series }` once all have answered, where
 * `series` is `[seconds, reached so far]` samples for the report.
 */
export async function sendThrough(lb, { count, spacingMs, attempt }) {
  const answers = [];
  const start = Date.now();
  const series = [[0, 0]];
  let reached = 0;
  for (let k = 0; k < count; k++) {
    await new Promise((r) => setTimeout(r, spacingMs));
    answers.push(
      attempt(lb.pick()).then((ok) => {
        if (ok) reached++;
        series.push([(Date.now() - start) / 1000, reached]);
      }),
    );
  }
  await Promise.all(answers);
  return { reached, series };
}

/** A node's health endpoint: `/livez` answers liveness, any other path readiness. */
export function healthServer(health) {
  const ready = healthHandler(health);
  const live = healthHandler(health, { probe: 'liveness' });
  return http.createServer((req, res) => (req.url === '/livez' ? live(req, res) : ready(req, res)));
}
