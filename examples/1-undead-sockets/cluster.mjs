// Incident 1's socket service: N instances, each its own Node process (instance.mjs);
// controllers keep a TCP connection to one of them and send `{ id, seq, sentAt }` lines. Any
// instance may be asked for a controller's latest message. The naive instance answers from
// whatever socket it holds for that controller; the guarded fleet coordinates through a real
// Redis (@halfopen/epochs-redis): the newest connection owns the controller on every instance,
// the others destroy their old sockets, and questions are routed to the owner Redis names.
// Nothing here reads another process's memory: every answer comes over TCP.
//
// Standalone: `node examples/1-undead-sockets/cluster.mjs [--guarded] [--port 7111] [--instances 8] [--redis 6379]`
// listens on ports 7111..7118 (guarded: starts its own redis-server unless --redis names one)
// and prints, every 2 s, how many server sockets are open for how many controllers. Attack it
// with `node examples/1-undead-sockets/controller.mjs` (it reconnects to random instances,
// leaves its old sockets open, then asks every instance for its latest message), or by hand
// over any TCP client: `{"hello":"ctl-1"}`, `{"id":"ctl-1","seq":1,"sentAt":<ms>}`,
// `{"latest":"ctl-1"}`.
import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { flag, isMain, option, statusEvery } from '../cli.mjs';

const instanceFile = fileURLToPath(new URL('./instance.mjs', import.meta.url));

/** One request/answer line connection (answers come back in order). */
export function lineClient(port) {
  const socket = net.connect(port, '127.0.0.1');
  const waiting = [];
  let buf = '';
  socket.setEncoding('utf8');
  const fail = () => {
    for (const w of waiting.splice(0)) w({ error: 'connection closed' });
  };
  socket.on('error', fail);
  socket.on('close', fail);
  socket.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let v;
      try {
        v = JSON.parse(line);
      } catch {
        v = { error: `malformed answer ${line.slice(0, 40)}` };
      }
      waiting.shift()?.(v);
    }
  });
  return {
    ask: (q) =>
      new Promise((resolve) => {
        if (socket.destroyed) return resolve({ error: 'connection closed' });
        waiting.push(resolve);
        socket.write(`${JSON.stringify(q)}\n`);
      }),
    close: () => socket.destroy(),
  };
}

/**
 * Starts `instances` instance processes on `port`, `port + 1`, ... (0: any free ports).
 * Guarded instances need `redisPort` (a running redis-server); `redisHosts[i]` is the address
 * instance i reaches it at (default 127.0.0.1), so a fault test can cut one instance off.
 */
export async function cluster({
  instances = 8,
  guarded = false,
  port = 0,
  redisPort,
  redisHosts = [],
} = {}) {
  if (guarded && !redisPort) throw new Error('a guarded cluster needs redisPort');
  const children = [];
  const nodes = await Promise.all(
    Array.from({ length: instances }, (_, i) => {
      const args = ['--index', i, '--port', port ? port + i : 0];
      if (guarded) args.push('--guarded', '--redis', redisPort);
      if (guarded && redisHosts[i]) args.push('--redis-host', redisHosts[i]);
      const child = fork(instanceFile, args.map(String), {
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      children.push(child);
      return new Promise((resolve, reject) => {
        child.once('message', (m) => resolve({ index: i, port: m.port, child }));
        child.once('exit', (code) =>
          reject(new Error(`instance ${i} exited (${code}) before listening`)),
        );
      });
    }),
  );
  const ports = nodes.map((n) => n.port);
  for (const n of nodes) n.child.send({ ports });
  const clients = nodes.map((n) => lineClient(n.port));
  const stats = () => Promise.all(clients.map((c) => c.ask({ stats: true })));
  return {
    nodes,
    /** Asks instance `i` over TCP for controller `id`'s latest message (guarded: the owner answers). */
    latest: (i, id) => clients[i].ask({ latest: id }),
    stats,
    /** Controllers this cluster has heard from. */
    controllers: async () => new Set((await stats()).flatMap((s) => s.controllers ?? [])).size,
    /** Controller sockets the servers still hold open, across all instances. */
    openSockets: async () => (await stats()).reduce((n, s) => n + (s.sockets ?? 0), 0),
    close: async () => {
      for (const c of clients) c.close();
      await Promise.all(
        children.map((c) =>
          c.exitCode !== null
            ? undefined
            : new Promise((r) => {
                c.once('exit', r);
                c.kill('SIGTERM');
              }),
        ),
      );
    },
  };
}

/**
 * A controller: reconnects to a random instance `reconnects` times, never closing the old
 * socket. Each socket records when its hello was sent and when the server closed it.
 */
export async function controller(
  id,
  ports,
  { reconnects = 5, messagesPerConnection = 5, random = Math.random, firstSeq = 0 } = {},
) {
  const sockets = [];
  let seq = firstSeq;
  let generation = 0; // the controller's own count of its connections (its connect time, growing)
  for (let r = 0; r <= reconnects; r++) {
    const port = ports[Math.floor(random() * ports.length)];
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.once('close', () => {
      s.closedAt = Date.now();
    });
    await new Promise((res) => s.once('connect', res));
    sockets.push(s); // the old one stays open: somewhere between proxy and cloud it never closed
    s.helloAt = Date.now();
    generation = Math.max(Date.now(), generation + 1);
    s.write(`${JSON.stringify({ hello: id, generation })}\n`);
    for (let m = 0; m < messagesPerConnection; m++) {
      s.write(`${JSON.stringify({ id, seq: seq++, sentAt: Date.now() })}\n`);
      await new Promise((res) => setTimeout(res, 2));
    }
  }
  return { sockets, lastSeq: seq - 1 };
}

/** The longest time from a reconnect's hello to the server closing the socket it replaced. */
export function slowestRevokeMs(ctl) {
  let worst = 0;
  for (let k = 1; k < ctl.sockets.length; k++) {
    const closed = ctl.sockets[k - 1].closedAt ?? Number.POSITIVE_INFINITY;
    worst = Math.max(worst, closed - ctl.sockets[k].helloAt);
  }
  return worst;
}

if (isMain(import.meta.url)) {
  const guarded = flag('guarded');
  let redisPort = option('redis', 0);
  let redis;
  if (guarded && !redisPort) {
    const { startRedis } = await import('@halfopen/testkit');
    redis = await startRedis();
    redisPort = redis.port;
  }
  const c = await cluster({
    guarded,
    instances: option('instances', 8),
    port: option('port', 7111),
    redisPort,
  });
  const ports = c.nodes.map((n) => n.port);
  console.log(
    `${c.nodes.length} socket-service processes (${guarded ? `guarded: @halfopen/epochs-redis over redis-server :${redisPort} + SkewGuard` : 'naive'}) on 127.0.0.1:${ports[0]}..${ports.at(-1)}`,
  );
  let status = '';
  const refresh = async () => {
    const s = await c.stats();
    status = `${s.reduce((n, x) => n + (x.sockets ?? 0), 0)} server sockets open for ${new Set(s.flatMap((x) => x.controllers ?? [])).size} controllers; ${s.reduce((n, x) => n + (x.rejected ?? 0), 0)} messages refused`;
  };
  setInterval(refresh, 1000).unref();
  statusEvery(2000, () => status || 'starting');
  const stop = async () => {
    await c.close();
    await redis?.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  setInterval(() => {}, 1 << 30); // serve until stopped
}
