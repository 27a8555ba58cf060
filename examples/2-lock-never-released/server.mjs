// Incident 2's push service: a consumer takes quotes one at a time under a lock and pushes
// each to every subscriber over TCP. One rare quote takes a path that returns without
// releasing the lock. Naive: a promise-chain mutex and no write deadline, so the consumer
// freezes for good and a subscriber that stopped reading piles quotes up in our memory.
// Guarded: LeaseLock (the forgotten holder loses the lock after its lease, with a warning that
// names it) and guardSocket's write stall (the stopped reader is cut).
//
// Standalone:
// `node examples/2-lock-never-released/server.mjs [--guarded] [--port 7102] [--rare-every 250]`
// feeds a quote every 20 ms and prints, every 2 s, the quotes pushed, who holds the lock, and
// what each subscriber has buffered. Attack it by hand with
// `node examples/2-lock-never-released/subscriber.mjs` (a healthy app) and
// `node examples/2-lock-never-released/subscriber.mjs --stop-reading` (a zero window), or any
// TCP client that connects and never reads. Every `--rare-every`th quote forgets the lock.
// `--health 7202` adds a @halfopen/health endpoint (`curl -s 127.0.0.1:7202/readyz`): it turns 503
// while the consumer is frozen, naming the lock's holder (guarded) or the stalled quotes (naive).
import net from 'node:net';
import { guardSocket } from '@halfopen/idle-timeout';
import { LeaseLock } from '@halfopen/lease-lock';
import { healthServer } from '../balancer.mjs';
import { flag, isMain, option, serve, statusEvery } from '../cli.mjs';
import { pushHealth } from './health.mjs';

/** What users write without halfopen: a promise-chain mutex. */
export class NaiveMutex {
  tail = Promise.resolve();
  acquire() {
    let release;
    const held = new Promise((r) => {
      release = r;
    });
    const ready = this.tail.then(() => ({ release }));
    this.tail = this.tail.then(() => held);
    return ready;
  }
}

export function pushService({
  guarded = false,
  forgets = () => false,
  quoteBytes = 64 * 1024,
  writeStallMs = 300,
  leaseMs = 200,
  warnAfterMs = 100,
} = {}) {
  const subscribers = new Set();
  const stats = { pushed: 0, cut: 0 };
  const server = net.createServer((s) => {
    s.on('error', () => {});
    const guard = guarded ? guardSocket(s, { writeStallMs }) : undefined;
    subscribers.add(s);
    s.on('close', () => {
      subscribers.delete(s);
      if (guard?.stats().destroyedBy) stats.cut++;
    });
  });
  const lock = guarded
    ? new LeaseLock({ name: 'consumer', leaseMs, warnAfterMs })
    : new NaiveMutex();
  /** Pushes quote `i` to every subscriber under the lock; the rare path returns holding it. */
  async function consume(i) {
    const held = await lock.acquire({ label: `quote ${i}` });
    const head = `quote ${i} ${Date.now()} `;
    const line = `${head}${'.'.repeat(Math.max(0, quoteBytes - head.length - 1))}\n`;
    for (const s of subscribers) if (!s.destroyed) s.write(line);
    stats.pushed++;
    if (forgets(i)) return; // the rare path forgets to release
    held.release();
  }
  return { server, lock, stats, subscribers, consume };
}

if (isMain(import.meta.url)) {
  const guarded = flag('guarded');
  const rareEvery = option('rare-every', 250);
  const svc = pushService({
    guarded,
    forgets: (i) => rareEvery > 0 && i > 0 && i % rareEvery === 0,
    leaseMs: 2000,
    warnAfterMs: 1000,
    writeStallMs: 3000,
  });
  serve(
    svc.server,
    option('port', 7102),
    `push service (${guarded ? 'guarded: LeaseLock leaseMs 2000, writeStallMs 3000' : 'naive'}; every quote ${rareEvery} forgets the lock)`,
  );
  // --health <port>: @halfopen/health readiness (/readyz) and liveness (/livez) for this node.
  if (option('health', 0))
    serve(healthServer(pushHealth(svc)), option('health', 0), 'health endpoint');
  let waitingSince = Date.now();
  statusEvery(2000, () => {
    const subs = [...svc.subscribers].map((s) => `${Math.round(s.writableLength / 1024)} KiB`);
    const holder = guarded ? svc.lock.query().holder : undefined;
    return `${svc.stats.pushed} quotes pushed; consumer ${Date.now() - waitingSince > 1000 ? `waiting for the lock for ${Math.round((Date.now() - waitingSince) / 1000)} s` : 'running'}${holder ? ` (held by ${holder.label} for ${Math.round(holder.heldMs)} ms)` : ''}; ${subs.length} subscriber(s) buffering [${subs.join(', ')}]; ${svc.stats.cut} cut`;
  });
  for (let i = 0; ; i++) {
    await svc.consume(i);
    waitingSince = Date.now();
    await new Promise((r) => setTimeout(r, 20));
  }
}
