// Incident 5's registry over TCP, like ZooKeeper: one line per request, one JSON line per answer.
//   `read`            -> {"members":[...],"version":N}, and arms a one-shot watch on this connection
//   `read-unwatched`  -> the same, arming nothing
// An armed watch sends {"event":"changed"} once, at the next change, then is gone.
//
// Standalone: `node examples/5-lost-subscriber/server.mjs [--port 7105] [--every 500]` serves a
// registry of 8 endpoints and rolls a deploy every `--every` ms (2 new endpoints appear, 1 ms
// later 2 old ones vanish). Attack it by hand: start
// `node examples/5-lost-subscriber/client.mjs [--guarded]` against it and watch its two
// subscribers; stop this server with Ctrl-C and start it again: the guarded client re-reads and
// converges, the naive one never hears of a change again.
import net from 'node:net';
import { isMain, option, serve, statusEvery } from '../cli.mjs';
import { Registry } from './store.mjs';

export function serveRegistry(registry) {
  return net.createServer((socket) => {
    socket.on('error', () => {});
    let armed = false;
    let buf = '';
    const onChange = () => {
      if (!armed || socket.destroyed) return;
      armed = false;
      socket.write('{"event":"changed"}\n');
    };
    registry.on(onChange);
    socket.on('close', () => registry.off(onChange));
    socket.setEncoding('utf8');
    socket.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line !== 'read' && line !== 'read-unwatched') {
          socket.write(`${JSON.stringify({ error: `unknown request ${line.slice(0, 40)}` })}\n`);
          continue;
        }
        if (line === 'read') armed = true; // armed by the same operation that reads
        socket.write(
          `${JSON.stringify({ members: registry.members, version: registry.version })}\n`,
        );
      }
    });
  });
}

/** A connection to serveRegistry: the same shape as the in-process Registry, over TCP. */
export function registryConnection(port) {
  const socket = net.connect(port, '127.0.0.1');
  const answers = []; // resolvers, in request order
  let watchers = []; // watches armed by reads answered so far
  let buf = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    for (const a of answers.splice(0)) a.reject(new Error('registry connection closed'));
    for (const w of watchers.splice(0)) w({ kind: 'lost', reason: 'disconnected' });
  });
  socket.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      let msg;
      try {
        msg = JSON.parse(buf.slice(0, nl));
      } catch {
        msg = { error: `malformed answer from the registry: ${buf.slice(0, Math.min(nl, 40))}` };
      }
      buf = buf.slice(nl + 1);
      if (msg?.event === 'changed') {
        const fire = watchers;
        watchers = [];
        for (const w of fire) w({ kind: 'changed' });
      } else answers.shift()?.resolve(msg);
    }
  });
  const request = (line, watched) =>
    new Promise((resolve, reject) => {
      if (closed) return reject(new Error('registry connection closed'));
      answers.push({
        reject,
        resolve: (msg) => {
          if (!msg || msg.error) return reject(new Error(msg?.error ?? 'empty answer'));
          const r = { value: msg.members, version: msg.version };
          if (watched) r.next = new Promise((w) => watchers.push(w)); // armed with this answer
          resolve(r);
        },
      });
      socket.write(`${line}\n`);
    });
  return {
    get closed() {
      return closed;
    },
    readUnwatched: () => request('read-unwatched', false),
    /** Arms a watch (the read's answer is thrown away); resolves at the next change. */
    arm: () => request('read', true).then((r) => r.next),
    /** A OneShotWatchSource for @halfopen/rearm. */
    source: () => ({ compare: (a, b) => a - b, read: () => request('read', true) }),
    close: () => socket.destroy(),
  };
}

if (isMain(import.meta.url)) {
  const registry = new Registry(0);
  // Versions start at the start time in ms, so a restarted registry's versions are newer than the
  // old one's (like ZooKeeper's zxid, they never go backwards for a client).
  registry.version = Date.now();
  let pods = Array.from({ length: 8 }, (_, i) => `10.0.0.${i}:9000`);
  let next = 8;
  registry.set(pods);
  serve(serveRegistry(registry), option('port', 7105), 'registry (one-shot watches)');
  setInterval(
    () => {
      const fresh = [`10.0.1.${next++ % 250}:9000`, `10.0.1.${next++ % 250}:9000`];
      registry.set([...pods, ...fresh]);
      setTimeout(() => {
        pods = [...pods.slice(2), ...fresh];
        registry.set(pods);
      }, 1);
    },
    option('every', 500),
  );
  statusEvery(2000, () => `version ${registry.version}: ${registry.members.join(' ')}`);
}
