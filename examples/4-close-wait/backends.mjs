// Incident 4's world: backends that are replaced (the old instance closes its end, a new one
// listens on a new port, a name list says which are live), and an SDK-style client that never
// closes a connection on its own (allowHalfOpen).
//
// Standalone: `node examples/4-close-wait/backends.mjs [--port 7104] [--live 4] [--every 1000]`
// runs `--live` backends and replaces one every `--every` ms, like daily redeploys sped up. The
// name list is served on 127.0.0.1:`--port`: each connection gets one line, the live ports
// comma-separated. Point `node examples/4-close-wait/client.mjs [--guarded]` at it.
import net from 'node:net';
import { ownSocketInodes, tcpSockets } from '@halfopen/testkit';
import { isMain, option, serve, statusEvery } from '../cli.mjs';

export async function backend() {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    clients: () => sockets.size,
    close: () => {
      server.close();
      for (const s of sockets) s.end(); // FIN to the client: the instance is gone
    },
  };
}

/** Connects like the SDK: never closes on its own; `paused` never reads (the FIN stays unread). */
export function dial(port, paused = false) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    s.on('error', () => {});
    s.once('connect', () => {
      if (paused) s.pause();
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** This process's sockets in CLOSE_WAIT (from the kernel's table) whose peer port is in `ports`. */
export function closeWaitTo(ports) {
  const own = ownSocketInodes();
  return tcpSockets().filter(
    (row) => row.state === 'CLOSE_WAIT' && ports.has(row.remotePort) && own.has(row.inode),
  ).length;
}

/** Replaces one of `live` backends `rotations` times; `use(ports)` is the client's traffic after each. */
export async function rotate({ live = 4, rotations = 200, use, onRotation = () => {} }) {
  const pool = await Promise.all(Array.from({ length: live }, backend));
  await use(pool.map((b) => b.port));
  for (let i = 0; i < rotations; i++) {
    const k = i % live;
    const fresh = await backend();
    pool[k].close();
    pool[k] = fresh;
    await use(pool.map((b) => b.port));
    onRotation(i);
  }
  return pool;
}

if (isMain(import.meta.url)) {
  const live = option('live', 4);
  const pool = await Promise.all(Array.from({ length: live }, backend));
  let replaced = 0;
  const names = net.createServer((s) => {
    s.on('error', () => {});
    s.end(`${pool.map((b) => b.port).join(',')}\n`);
  });
  serve(
    names,
    option('port', 7104),
    `${live} backends, one replaced every ${option('every', 1000)} ms; name list`,
  );
  setInterval(
    async () => {
      const fresh = await backend();
      const k = replaced++ % live;
      pool[k].close();
      pool[k] = fresh;
    },
    option('every', 1000),
  );
  statusEvery(
    2000,
    () =>
      `${replaced} backends replaced; live ${pool.map((b) => `:${b.port} (${b.clients()} clients)`).join(', ')}`,
  );
}
