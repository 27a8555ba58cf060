// One instance of incident 1's socket service, in its own process (started by cluster.mjs).
// Controllers send `{"hello":"ctl-1"}` then `{"id":"ctl-1","seq":1,"sentAt":<ms>}` lines;
// `{"latest":"ctl-1"}` asks this instance for a controller's latest message.
//
// Naive: it answers from whatever socket it holds for the controller (the incident).
// Guarded: the newest connection owns the controller fleet-wide (@halfopen/epochs-redis over a
// real Redis): `open()` takes a fleet epoch and broadcasts the supersede, every other instance
// destroys its old socket, SkewGuard refuses messages from superseded epochs, and a question is
// routed to the owner Redis names (`{"local":"ctl-1","epoch":E}` over TCP to that instance),
// never answered from memory this process does not own.
//
// `node instance.mjs --index 0 --port 7111 --ports 7111,7112,... [--guarded --redis 6379]`
import net from 'node:net';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};
const index = Number(arg('index') ?? 0);
const guarded = process.argv.includes('--guarded');
const me = `instance-${index}`;
let ports = (arg('ports') ?? '').split(',').filter(Boolean).map(Number);

const latest = new Map(); // controller id -> last message accepted on this instance (guarded: with its epoch)
const sockets = new Set(); // every inbound connection (controllers, questions, other instances)
const controllerSockets = new Set(); // those that said hello
let rejected = 0;
let refused = 0;
let accepted = 0;
const held = new Map(); // controller id -> the state of the socket this instance opened last for it
const revocations = { applied: 0, destroyed: 0 }; // explained on the channel vs sockets destroyed

let redis;
let epochs;
let guard;
if (guarded) {
  const [{ FleetEpochs }, { SkewGuard }, { Redis }] = await Promise.all([
    import('@halfopen/epochs-redis'),
    import('@halfopen/skew-guard'),
    import('ioredis'),
  ]);
  redis = new Redis({ port: Number(arg('redis')), host: arg('redis-host') ?? '127.0.0.1' });
  redis.on('error', () => {}); // ioredis reconnects; FleetEpochs refuses opens meanwhile
  epochs = new FleetEpochs({
    redis,
    instance: me,
    timeoutMs: 500,
    reconcileEveryMs: 250,
    onSupersede: (old) => {
      revocations.destroyed++;
      old.destroy();
    },
  });
  // Every revocation is explained on halfopen:epochs-redis:applied (peer, epochs, new owner).
  const { subscribe } = await import('node:diagnostics_channel');
  subscribe('halfopen:epochs-redis:applied', () => revocations.applied++);
  guard = new SkewGuard({ maxPastMs: 60_000, maxFutureMs: 5_000, replayWindow: 256, epochs });
}

/** A line-per-request connection to another instance (answers come back in order). */
const links = new Map();
function link(port) {
  let l = links.get(port);
  if (l && !l.socket.destroyed) return l;
  const socket = net.connect(port, '127.0.0.1');
  l = { socket, waiting: [], buf: '' };
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    l.buf += d;
    for (let nl = l.buf.indexOf('\n'); nl >= 0; nl = l.buf.indexOf('\n')) {
      const line = l.buf.slice(0, nl);
      l.buf = l.buf.slice(nl + 1);
      l.waiting.shift()?.(line);
    }
  });
  const fail = () => {
    for (const w of l.waiting.splice(0)) w('{"error":"instance unreachable"}');
  };
  socket.on('error', fail);
  socket.on('close', fail);
  links.set(port, l);
  return l;
}
function askInstance(port, question) {
  const l = link(port);
  return new Promise((resolve) => {
    l.waiting.push((line) => {
      try {
        resolve(JSON.parse(line));
      } catch {
        resolve({ error: 'malformed answer' });
      }
    });
    l.socket.write(`${JSON.stringify(question)}\n`);
  });
}

/** This instance's answer for `id`: naive from its own memory; guarded from the owner. */
async function answer(id) {
  if (!guarded) return latest.get(id) ?? null;
  let owner;
  try {
    owner = await epochs.owner(id);
  } catch (err) {
    return { error: `owner unknown: ${err.code}` }; // Redis away: no answer rather than a stale one
  }
  if (!owner) return null;
  if (owner.instance === me) return localAnswer(id, owner.epoch);
  const port = ports[Number(owner.instance.slice('instance-'.length))];
  return port === undefined
    ? { error: `no address for ${owner.instance}` }
    : askInstance(port, { local: id, epoch: owner.epoch });
}
/** Only what arrived on the connection with the fleet epoch Redis named may answer. */
function localAnswer(id, epoch) {
  const l = latest.get(id);
  return epochs.epochOf(id) === epoch && l?.epoch === epoch ? l.msg : null;
}

async function handle(socket, state, line) {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    rejected++; // malformed data is counted, never thrown
    return;
  }
  if (msg === null || typeof msg !== 'object') {
    rejected++;
    return;
  }
  if (typeof msg.latest === 'string') {
    socket.write(`${JSON.stringify(await answer(msg.latest))}\n`);
  } else if (typeof msg.local === 'string') {
    socket.write(`${JSON.stringify(guarded ? localAnswer(msg.local, msg.epoch) : null)}\n`);
  } else if (msg.stats) {
    socket.write(
      `${JSON.stringify({ sockets: controllerSockets.size, accepted, rejected, refused, controllers: [...latest.keys()], owned: [...held].filter(([id, st]) => epochs?.isCurrent(id, st.epoch)).map(([id]) => id), revocations, epochs: epochs?.stats() })}\n`,
    );
  } else if (typeof msg.hello === 'string') {
    controllerSockets.add(socket);
    if (!guarded) return;
    state.peer = msg.hello;
    try {
      // The newest connection owns the controller; its generation orders opens that reach Redis
      // out of order on a loaded machine (an older one is refused, not given the controller).
      const generation =
        Number.isSafeInteger(msg.generation) && msg.generation >= 0 ? msg.generation : undefined;
      state.epoch = await epochs.open(msg.hello, socket, { generation });
      held.set(msg.hello, state);
    } catch {
      refused++;
      socket.destroy(); // Redis away, or an older connection: refuse; a live controller reconnects
    }
  } else if (guarded) {
    const v = guard.check({ peer: msg.id, sentAt: msg.sentAt, seq: msg.seq, epoch: state.epoch });
    if (!v.ok) rejected++;
    else {
      accepted++;
      latest.set(msg.id, { epoch: state.epoch, msg });
    }
  } else if (typeof msg.id === 'string') {
    accepted++;
    latest.set(msg.id, msg);
  }
}

const server = net.createServer((socket) => {
  sockets.add(socket);
  const state = { peer: undefined, epoch: undefined };
  let chain = Promise.resolve(); // a socket's lines in order, each after the one before
  let buf = '';
  socket.on('close', () => {
    sockets.delete(socket);
    controllerSockets.delete(socket);
    if (state.peer !== undefined) epochs.close(state.peer, socket); // forgets it only if it still owns
  });
  socket.on('error', () => {});
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      chain = chain.then(() => handle(socket, state, line));
    }
  });
});

// Guarded: accept controllers only once Redis answered and the first reconciliation ran
// (before that every open would be refused).
for (let waited = 0; guarded && !epochs.connected && waited < 15_000; waited += 10)
  await new Promise((r) => setTimeout(r, 10));
server.listen(Number(arg('port') ?? 0), '127.0.0.1', () => {
  const { port } = server.address();
  process.send?.({ port });
  console.log(`${me} (${guarded ? 'guarded' : 'naive'}) on 127.0.0.1:${port}`);
});
process.on('message', (m) => {
  if (Array.isArray(m?.ports)) ports = m.ports;
});
// Started by cluster.mjs: gone with it, even when it was killed without a word.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', async () => {
  for (const s of sockets) s.destroy();
  server.close();
  for (const l of links.values()) l.socket.destroy();
  await epochs?.shutdown();
  redis?.disconnect();
  process.exit(0);
});
