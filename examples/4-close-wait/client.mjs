// Incident 4's SDK-style client: one connection per backend, looked up by the live name list,
// never closed on its own. Naive: a Map, so a connection to a replaced backend stays, its FIN
// unanswered, in CLOSE_WAIT forever. Guarded: a ConnectionMap (an entry leaves when its socket
// ends, and retain() reaps every backend no longer in the list) over @halfopen/keepalive's
// connect (bounded connect attempts; keepalive notices a backend that vanished without a FIN).
//
// Standalone: `node examples/4-close-wait/client.mjs [--guarded] [--registry 7104]` reads the
// name list of `node examples/4-close-wait/backends.mjs` every 500 ms, sends a byte to each live
// backend, and prints every 2 s how many connections it holds and how many of its own sockets are
// in CLOSE_WAIT (the kernel's table, picked by inode; `ss -tan state close-wait` shows them too).
import net from 'node:net';
import { connect } from '@halfopen/keepalive';
import { ConnectionMap } from '@halfopen/reaper';
import { flag, isMain, option, statusEvery } from '../cli.mjs';
import { closeWaitTo, dial } from './backends.mjs';

export function sdkClient({ guarded = false } = {}) {
  const naive = new Map();
  const map = new ConnectionMap({ graceMs: 200 });
  const seen = new Set(); // every backend port ever used, for counting CLOSE_WAIT
  const dialGuarded = (port) =>
    connect({
      port,
      host: '127.0.0.1',
      allowHalfOpen: true, // the SDK's setting: the map, not the socket, decides when to close
      attemptTimeoutMs: 1000,
      timeoutMs: 3000,
      keepAlive: { idleMs: 5000, intervalMs: 1000, count: 3 },
    });
  return {
    /** The client's traffic: one byte to every live backend. */
    async use(live) {
      for (const p of live) seen.add(p);
      if (guarded) {
        map.retain(live);
        for (const port of live) (await map.getOrCreate(port, dialGuarded)).write('x');
      } else {
        for (const port of live) {
          if (!naive.has(port)) naive.set(port, await dial(port));
          naive.get(port).write('x');
        }
      }
    },
    size: () => (guarded ? map.size : naive.size),
    closeWait: () => closeWaitTo(seen),
    async close() {
      for (const s of naive.values()) s.destroy();
      await map.close();
    },
  };
}

/** Reads the name list served by backends.mjs. */
function names(port) {
  return new Promise((resolve, reject) => {
    let text = '';
    const s = net.connect(port, '127.0.0.1');
    s.setEncoding('utf8');
    s.on('data', (d) => (text += d));
    s.on('end', () => resolve(text.trim().split(',').filter(Boolean).map(Number)));
    s.on('error', reject);
  });
}

if (isMain(import.meta.url)) {
  const guarded = flag('guarded');
  const registry = option('registry', 7104);
  const client = sdkClient({ guarded });
  console.log(
    `SDK client (${guarded ? 'guarded: ConnectionMap + keepalive connect' : 'naive: a Map'}) following the name list on 127.0.0.1:${registry}`,
  );
  let failures = 0;
  setInterval(async () => {
    try {
      await client.use(await names(registry));
    } catch (err) {
      if (failures++ === 0) console.log(`name list or backend unreachable: ${err.message}`);
    }
  }, 500);
  statusEvery(
    2000,
    () => `${client.size()} connections held; ${client.closeWait()} of our sockets in CLOSE_WAIT`,
  );
}
