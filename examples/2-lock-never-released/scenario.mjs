// Incident 2 twice: a push service consumes quotes and pushes them to subscribers over TCP.
// One rare quote takes a path that returns without releasing the consumer lock, and one
// subscriber stops reading (its window goes to zero). Naive: a plain promise-chain mutex and no
// write deadline. Guarded: LeaseLock with a lease (fencing token) and guardSocket's write stall.
import net from 'node:net';
import { guardSocket } from '@halfopen/idle-timeout';
import { LeaseLock } from '@halfopen/lease-lock';

const QUOTES = 300;
const RARE = 50; // the quote that takes the forgetful path

/** What users write without halfopen: a promise-chain mutex. */
class NaiveMutex {
  tail = Promise.resolve();
  acquire() {
    let release;
    const held = new Promise((r) => {
      release = r;
    });
    const ready = this.tail.then(() => release);
    this.tail = this.tail.then(() => held);
    return ready;
  }
}

async function run(guarded, progress) {
  const subscribers = [];
  const server = net.createServer((s) => {
    s.on('error', () => {});
    if (guarded) guardSocket(s, { writeStallMs: 300 });
    subscribers.push(s);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  // A healthy app and one that stopped reading.
  const healthy = net.connect(port, '127.0.0.1');
  let received = 0;
  healthy.on('data', (d) => (received += d.length));
  const stuck = net.connect(port, '127.0.0.1');
  stuck.on('error', () => {});
  await Promise.all([healthy, stuck].map((s) => new Promise((r) => s.once('connect', r))));
  stuck.pause();
  while (subscribers.length < 2) await new Promise((r) => setTimeout(r, 5));

  const lock = guarded
    ? new LeaseLock({ name: 'consumer', leaseMs: 200, warnAfterMs: 100 })
    : new NaiveMutex();
  const quote = Buffer.alloc(64 * 1024, 1);
  let pushed = 0;
  const start = Date.now();
  const consume = async (i) => {
    if (guarded) {
      const held = await lock.acquire({ label: `quote ${i}` });
      for (const s of subscribers) if (!s.destroyed) s.write(quote);
      pushed++;
      if (i !== RARE) held.release(); // the rare path forgets
    } else {
      const release = await lock.acquire();
      for (const s of subscribers) if (!s.destroyed) s.write(quote);
      pushed++;
      if (i !== RARE) release(); // the rare path forgets
    }
  };
  const consumer = (async () => {
    for (let i = 0; i < QUOTES; i++) {
      await Promise.race([consume(i), new Promise((r) => setTimeout(r, 3000))]); // a wedged consumer stops here
      if (Date.now() - start > 3000) break;
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  await consumer;
  await new Promise((r) => setTimeout(r, 700));
  const stuckBuffered = subscribers[1].destroyed ? 0 : subscribers[1].writableLength;
  const stuckCut = subscribers[1].destroyed;
  progress(
    `${guarded ? 'guarded' : 'naive'}: ${pushed}/${QUOTES} quotes pushed; stuck subscriber ${stuckCut ? 'cut (write stall)' : `holds ${Math.round(stuckBuffered / 1024)} KiB in our buffers`}`,
  );
  for (const s of [healthy, stuck, ...subscribers]) s.destroy();
  await new Promise((r) => server.close(r));
  return { pushed, received, stuckCut, stuckBuffered };
}

export default {
  title: '2. A lock that was never released, and a reader that stopped',
  primitive:
    '@halfopen/lease-lock (leaseMs, warnAfterMs) + @halfopen/idle-timeout guardSocket({ writeStallMs })',
  metric: { label: 'quotes pushed of 300', unit: '', of: (r) => r.pushed, better: 'higher' },
  async run({ progress = () => {} } = {}) {
    const naive = await run(false, progress);
    const guarded = await run(true, progress);
    return {
      naive: {
        suffered: naive.pushed <= RARE + 1 && !naive.stuckCut,
        summary: `consumer froze after quote ${naive.pushed - 1} of ${QUOTES} and stayed frozen; the stopped reader was never cut`,
        ...naive,
      },
      guarded: {
        survived: guarded.pushed === QUOTES && guarded.stuckCut,
        summary: `all ${QUOTES} quotes pushed (the forgotten lock expired after its 200 ms lease); the stopped reader was cut on write stall`,
        ...guarded,
      },
    };
  },
};
