// Incident 4's world: backends that are replaced (the old instance closes its end, a new one
// listens on a new port, a name list says which are live), and an SDK-style client that never
// closes a connection on its own (allowHalfOpen).
import net from 'node:net';

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
