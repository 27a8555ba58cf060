// Incident 4 twice: a client keeps one connection per backend while backends are replaced 200
// times. Naive: a Map looked up by the live list only; guarded: a ConnectionMap (evictOnClose,
// retain fed by the name list). CLOSE_WAIT counted from /proc/net/tcp for the old backends' ports.
import { ConnectionMap } from '@halfopen/reaper';
import { countTcpStates } from '@halfopen/testkit';
import { dial, rotate } from './backends.mjs';

const ROTATIONS = 200;

async function run(guarded, progress) {
  const seen = new Set();
  const closeWait = () =>
    [...seen].reduce((n, port) => n + countTcpStates(port, { side: 'remote' }).CLOSE_WAIT, 0);
  const naive = new Map();
  const map = new ConnectionMap({ graceMs: 200 });
  let largest = 0;
  const pool = await rotate({
    rotations: ROTATIONS,
    use: async (live) => {
      for (const p of live) seen.add(p);
      if (guarded) {
        map.retain(live);
        for (const port of live) (await map.getOrCreate(port, (p) => dial(p))).write('x');
        largest = Math.max(largest, map.size);
      } else {
        for (const port of live) {
          if (!naive.has(port)) naive.set(port, await dial(port));
          naive.get(port).write('x');
        }
        largest = Math.max(largest, naive.size);
      }
    },
  });
  await new Promise((r) => setTimeout(r, 300));
  const cw = closeWait();
  progress(
    `${guarded ? 'guarded' : 'naive'}: ${cw} sockets in CLOSE_WAIT after ${ROTATIONS} rotations; map held at most ${largest}`,
  );
  for (const s of naive.values()) s.destroy();
  await map.close();
  for (const b of pool) b.close();
  return { closeWait: cw, largest };
}

export default {
  title: '4. CLOSE_WAIT pile-up in an SDK connection map',
  primitive: '@halfopen/reaper ConnectionMap (evictOnClose + retain)',
  metric: {
    label: 'sockets left in CLOSE_WAIT',
    unit: '',
    of: (r) => r.closeWait,
    better: 'lower',
  },
  async run({ progress = () => {} } = {}) {
    const naive = await run(false, progress);
    const guarded = await run(true, progress);
    return {
      naive: {
        suffered: naive.closeWait >= ROTATIONS / 2,
        summary: `${naive.closeWait} sockets left in CLOSE_WAIT after ${ROTATIONS} backend replacements; map grew to ${naive.largest}`,
        ...naive,
      },
      guarded: {
        survived: guarded.closeWait === 0 && guarded.largest <= 4,
        summary: `${guarded.closeWait} in CLOSE_WAIT; map never held more than the ${guarded.largest} live backends`,
        ...guarded,
      },
    };
  },
};
