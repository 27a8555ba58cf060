// Incident 1 twice: 8 instances, 20 controllers that reconnect 5 times each to random
// instances and leave their old sockets open. Then every instance is asked for every
// controller's latest message.
import { cluster, controller } from './cluster.mjs';

const CONTROLLERS = 20;

const percent = (part, whole) => Math.round((100 * part) / Math.max(1, whole));

function seeded(seed) {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

async function run(guarded, progress) {
  const c = await cluster({ instances: 8, guarded });
  const ports = c.nodes.map((n) => n.port);
  const random = seeded(42);
  const ctl = [];
  // Every instance asked for every controller's latest message.
  const ask = () => {
    let answers = 0;
    let stale = 0;
    for (let i = 0; i < ctl.length; i++) {
      for (let n = 0; n < c.nodes.length; n++) {
        const m = c.latest(n, `ctl-${i}`);
        if (!m) continue;
        answers++;
        if (m.seq < ctl[i].lastSeq) stale++;
      }
    }
    return { answers, stale };
  };
  const start = Date.now();
  const series = [[0, 0]]; // [seconds, % of answers stale] after each controller
  for (let i = 0; i < CONTROLLERS; i++) {
    ctl.push(await controller(`ctl-${i}`, ports, { random }));
    await new Promise((r) => setTimeout(r, 10)); // let its last lines arrive
    const now = ask();
    series.push([(Date.now() - start) / 1000, percent(now.stale, now.answers)]);
  }
  await new Promise((r) => setTimeout(r, 100));
  const { answers, stale } = ask();
  const open = c.openSockets();
  const rejected = c.nodes.reduce((n, node) => n + node.rejected, 0);
  progress(
    `${guarded ? 'guarded' : 'naive'}: ${stale}/${answers} answers stale, ${open} server sockets open for ${CONTROLLERS} controllers`,
  );
  for (const x of ctl) for (const s of x.sockets) s.destroy();
  await c.close();
  return { answers, stale, open, rejected, series };
}

export default {
  title: '1. Undead sockets and "5-minute-old" messages',
  primitive: '@halfopen/skew-guard ConnectionEpochs (newest connection owns the peer) + SkewGuard',
  metric: {
    label: 'answers that were stale',
    unit: '%',
    of: (r) => percent(r.stale, r.answers),
    better: 'lower',
  },
  async run({ progress = () => {} } = {}) {
    const naive = await run(false, progress);
    const guarded = await run(true, progress);
    return {
      naive: {
        suffered: naive.stale / naive.answers > 0.5,
        summary: `${naive.stale}/${naive.answers} answers stale (${percent(naive.stale, naive.answers)}%); ${naive.open} sockets open for ${CONTROLLERS} controllers`,
        ...naive,
      },
      guarded: {
        survived: guarded.stale === 0 && guarded.open === CONTROLLERS,
        summary: `${guarded.stale}/${guarded.answers} answers stale; every old socket destroyed (${guarded.open} open for ${CONTROLLERS} controllers)`,
        ...guarded,
      },
    };
  },
};
