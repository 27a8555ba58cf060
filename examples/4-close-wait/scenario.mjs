// Incident 4 twice: a client keeps one connection per backend while backends are replaced 200
// times. Naive: a Map looked up by the live list only; guarded: a ConnectionMap (evictOnClose,
// retain fed by the name list, keepalive connect). CLOSE_WAIT counted from the kernel's table.
import { rotate } from './backends.mjs';
import { sdkClient } from './client.mjs';

const ROTATIONS = 200;

async function run(guarded, progress) {
  const client = sdkClient({ guarded });
  let largest = 0;
  const start = Date.now();
  const series = [[0, 0]]; // [seconds, sockets in CLOSE_WAIT], every 10 rotations
  const pool = await rotate({
    rotations: ROTATIONS,
    use: async (live) => {
      await client.use(live);
      largest = Math.max(largest, client.size());
    },
    onRotation: (i) => {
      if (i % 10 === 9) series.push([(Date.now() - start) / 1000, client.closeWait()]);
    },
  });
  await new Promise((r) => setTimeout(r, 300));
  const cw = client.closeWait();
  series.push([(Date.now() - start) / 1000, cw]);
  progress(
    `${guarded ? 'guarded' : 'naive'}: ${cw} sockets in CLOSE_WAIT after ${ROTATIONS} rotations; map held at most ${largest}`,
  );
  await client.close();
  for (const b of pool) b.close();
  return { closeWait: cw, largest, series };
}

export default {
  title: '4. CLOSE_WAIT pile-up in an SDK connection map',
  primitive: '@halfopen/reaper ConnectionMap (evictOnClose + retain) + @halfopen/keepalive connect',
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
