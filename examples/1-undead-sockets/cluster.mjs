// Incident 1's socket service: N instances; controllers keep a TCP connection to one of them
// and send `{ id, seq, sentAt }` lines. Any instance may be asked for a controller's latest
// message. The naive instance answers from whatever socket it holds for that controller;
// the guarded one owns a controller only through its newest connection (ConnectionEpochs),
// tells the other instances to drop theirs, and refuses messages from superseded ones (SkewGuard).
//
// Standalone: `node examples/1-undead-sockets/cluster.mjs [--guarded] [--port 7111] [--instances 8]`
// listens on ports 7111..7108 and prints, every 2 s, how many server sockets are open for how
// many controllers. Attack it by hand with `node examples/1-undead-sockets/controller.mjs`
// (it reconnects to random instances, leaves its old sockets open, then asks every instance for
// its latest message), or by hand over any TCP client: send `{"hello":"ctl-1"}` then
// `{"id":"ctl-1","seq":1,"sentAt":<ms>}` lines; `{"latest":"ctl-1"}` asks for the latest one.
import net from 'node:net';
import { ConnectionEpochs, SkewGuard } from '@halfopen/skew-guard';
import { flag, isMain, option, statusEvery } from '../cli.mjs';

/** Starts `instances` socket-service instances on `port`, `port + 1`, ... (0: any free ports). */
export async function cluster({ instances = 8, guarded = false, port = 0 } = {}) {
  const nodes = [];
  const broadcast = (from, id) => {
    for (const n of nodes) if (n !== from) n.epochs?.revoke(id); // "controller X reconnected" (in-process bus)
  };
  for (let i = 0; i < instances; i++) {
    const node = {
      index: i,
      latest: new Map(), // naive: id -> last message seen on this instance's socket
      sockets: new Set(),
      epochs: guarded ? new ConnectionEpochs() : undefined,
      guard: undefined,
      rejected: 0,
    };
    if (guarded)
      node.guard = new SkewGuard({
        maxPastMs: 60_000,
        maxFutureMs: 5_000,
        replayWindow: 256,
        epochs: node.epochs,
      });
    node.server = net.createServer((socket) => {
      node.sockets.add(socket);
      socket.on('close', () => node.sockets.delete(socket));
      socket.on('error', () => {});
      let epoch;
      let buf = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => {
        buf += d;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          let msg;
          try {
            msg = JSON.parse(line);
          } catch {
            node.rejected++; // malformed data is counted, never thrown
            continue;
          }
          if (typeof msg.latest === 'string') {
            socket.write(`${JSON.stringify(latest(node.index, msg.latest) ?? null)}\n`);
            continue;
          }
          if (msg.hello) {
            if (guarded) {
              epoch = node.epochs.open(msg.hello, socket); // newest connection owns the controller
              broadcast(node, msg.hello);
            }
            continue;
          }
          if (guarded) {
            const v = node.guard.check({ peer: msg.id, sentAt: msg.sentAt, seq: msg.seq, epoch });
            if (!v.ok) {
              node.rejected++;
              continue;
            }
          }
          node.latest.set(msg.id, msg);
        }
      });
    });
    await new Promise((resolve, reject) => {
      node.server.once('error', reject);
      node.server.listen(port && port + i, '127.0.0.1', resolve);
    });
    node.port = node.server.address().port;
    nodes.push(node);
  }
  /** Asks instance `i` for controller `id`'s latest message (guarded: the owner answers). */
  function latest(i, id) {
    if (!guarded) return nodes[i].latest.get(id);
    const owner = nodes.find((n) => n.epochs.current(id)) ?? nodes[i];
    return owner.latest.get(id);
  }
  return {
    nodes,
    latest,
    /** Controllers this cluster has heard from. */
    controllers: () => new Set(nodes.flatMap((n) => [...n.latest.keys()])).size,
    /** Server-side sockets still open, across all instances. */
    openSockets: () => nodes.reduce((n, node) => n + node.sockets.size, 0),
    close: async () => {
      for (const n of nodes) {
        for (const s of n.sockets) s.destroy();
        await new Promise((r) => n.server.close(r));
      }
    },
  };
}

/** A controller: reconnects to a random instance `reconnects` times, never closing the old socket. */
export async function controller(
  id,
  ports,
  { reconnects = 5, messagesPerConnection = 5, random = Math.random } = {},
) {
  const sockets = [];
  let seq = 0;
  for (let r = 0; r <= reconnects; r++) {
    const port = ports[Math.floor(random() * ports.length)];
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise((res) => s.once('connect', res));
    sockets.push(s); // the old one stays open: somewhere between proxy and cloud it never closed
    s.write(`${JSON.stringify({ hello: id })}\n`);
    for (let m = 0; m < messagesPerConnection; m++) {
      s.write(`${JSON.stringify({ id, seq: seq++, sentAt: Date.now() })}\n`);
      await new Promise((res) => setTimeout(res, 2));
    }
  }
  return { sockets, lastSeq: seq - 1 };
}

if (isMain(import.meta.url)) {
  const guarded = flag('guarded');
  const c = await cluster({
    guarded,
    instances: option('instances', 8),
    port: option('port', 7111),
  });
  const ports = c.nodes.map((n) => n.port);
  console.log(
    `${c.nodes.length} socket-service instances (${guarded ? 'guarded: ConnectionEpochs + SkewGuard' : 'naive'}) on 127.0.0.1:${ports[0]}..${ports.at(-1)}`,
  );
  statusEvery(
    2000,
    () =>
      `${c.openSockets()} server sockets open for ${c.controllers()} controllers; ${c.nodes.reduce((n, x) => n + x.rejected, 0)} messages refused`,
  );
}
