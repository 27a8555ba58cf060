// Incident 3's server: a fixed pool of workers; each takes a connection and blocks on its
// first read. `node examples/3-lost-rst-probes/server.mjs [--guarded] [--port 7003] [--workers 4]`
// Attack it by hand: `node -e "for(let i=0;i<4;i++)require('net').connect(7003)"` holds every
// worker in the naive server (a connection that never sends looks the same as one whose RST
// was lost); then `echo ping | nc 127.0.0.1 7003` hangs. With --guarded it answers `pong`.
import net from 'node:net';
import { guardServer } from '@halfopen/idle-timeout';

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

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const guarded = process.argv.includes('--guarded');
  const { server, guard, stats } = workerPoolServer({
    workers: arg('--workers', 4),
    guarded,
    firstByteMs: 2000,
  });
  server.listen(arg('--port', 7003), '127.0.0.1', () => {
    console.log(
      `worker-pool server (${guarded ? 'guarded: firstByteMs 2000' : 'naive'}) on 127.0.0.1:${server.address().port}`,
    );
  });
  setInterval(() => {
    console.log(
      `busy workers ${stats.busy()}, queued ${stats.queued()}, served ${stats.served}, freed ${stats.freed}${guard ? `, cut ${guard.stats().destroyed['first-byte']}` : ''}`,
    );
  }, 2000).unref();
}
