// Incident 3's server: a fixed pool of workers; each takes a connection and blocks on its
// first read. Guarded: guardServer({ firstByteMs }) destroys a connection that sends nothing.
//
// Standalone: `node examples/3-lost-rst-probes/server.mjs [--guarded] [--port 7103] [--workers 4]`
// prints busy workers, queue and served requests every 2 s. Attack it by hand with
// `node examples/3-lost-rst-probes/prober.mjs`: a health prober that opens a connection every
// 250 ms and forgets it (a connection that never sends and never closes leaves the server in the
// same state as a probe whose RST was lost), while sending one real request a second. The naive
// server stops answering within a second; the guarded one answers every request.
// `--health 7203` adds a @halfopen/health endpoint (`curl -s 127.0.0.1:7203/readyz`): it turns 503,
// naming the stalled workers, once they are all stuck.
import net from 'node:net';
import { guardServer } from '@halfopen/idle-timeout';
import { healthServer } from '../balancer.mjs';
import { flag, isMain, option, serve, statusEvery } from '../cli.mjs';
import { workerHealth } from './health.mjs';

export function workerPoolServer({ workers = 4, guarded = false, firstByteMs = 300 } = {}) {
  const queue = [];
  let idle = workers;
  const stats = { served: 0, freed: 0, busy: () => workers - idle, queued: () => queue.length };
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    queue.push(socket);
    pump();
  });
  const guard = guarded ? guardServer(server, { firstByteMs }) : undefined;
  async function work(socket) {
    const first = await new Promise((resolve) => {
      socket.once('data', resolve);
      socket.once('close', () => resolve(null));
    });
    if (first) {
      socket.end('pong\n');
      stats.served++;
    } else stats.freed++;
  }
  function pump() {
    while (idle > 0 && queue.length > 0) {
      idle--;
      work(queue.shift()).finally(() => {
        idle++;
        pump();
      });
    }
  }
  return { server, guard, stats };
}

/** A real request: connect, send `ping`, resolve true when `pong` comes back within `ms`. */
export function request(port, ms) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => done(false), ms);
    const done = (ok) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    s.on('connect', () => s.write('ping\n'));
    s.on('data', (d) => done(d.toString() === 'pong\n'));
    s.on('error', () => done(false));
  });
}

if (isMain(import.meta.url)) {
  const guarded = flag('guarded');
  const { server, guard, stats } = workerPoolServer({
    workers: option('workers', 4),
    guarded,
    firstByteMs: 500,
  });
  serve(
    server,
    option('port', 7103),
    `worker-pool server (${guarded ? 'guarded: firstByteMs 500' : 'naive'})`,
  );
  // --health <port>: @halfopen/health readiness (/readyz) and liveness (/livez) for this node.
  if (option('health', 0)) {
    const health = workerHealth(stats, { workers: option('workers', 4) });
    serve(healthServer(health), option('health', 0), 'health endpoint');
  }
  statusEvery(
    2000,
    () =>
      `busy workers ${stats.busy()}, queued ${stats.queued()}, served ${stats.served}, freed ${stats.freed}${guard ? `, cut ${guard.stats().destroyed['first-byte']}` : ''}`,
  );
}
