// Incident 1's socket service: N instances; controllers keep a TCP connection to one of them
// and send `{ id, seq, sentAt }` lines. Any instance may be asked for a controller's latest
// message. The naive instance answers from whatever socket it holds for that controller;
// the guarded one owns a controller only through its newest connection (ConnectionEpochs),
// tells the other instances to drop theirs, and refuses messages from superseded ones (SkewGuard).
import net from 'node:net';
import { ConnectionEpochs, SkewGuard } from '@halfopen/skew-guard';

export async function cluster({ instances = 8, guarded = false } = {}) {
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
    await new Promise((r) => node.server.listen(0, '127.0.0.1', r));
    node.port = node.server.address().port;
    nodes.push(node);
  }
  return {
    nodes,
    /** Asks instance `i` for controller `id`'s latest message (guarded: the owner answers). */
    latest(i, id) {
      if (!guarded) return nodes[i].latest.get(id);
      const owner = nodes.find((n) => n.epochs.current(id)) ?? nodes[i];
      return owner.latest.get(id);
    },
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
