// Incident 1 twice: 8 instance processes, 20 controllers that reconnect 5 times each to random
// instances and leave their old sockets open. Then every instance is asked, over TCP, for every
// controller's latest message. The guarded run coordinates through a real redis-server (started
// here through the test kit); the naive run uses none.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { missingForRedis, startRedis } from '@halfopen/testkit';
import { cluster, controller, slowestRevokeMs } from './cluster.mjs';

const percent = (part, whole) => Math.round((100 * part) / Math.max(1, whole));

function seeded(seed) {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

/** Waits until the instances have taken in every line the controllers sent (a loaded machine lags). */
export async function quiet(c) {
  const seen = async () => (await c.stats()).reduce((n, s) => n + s.accepted + s.rejected, 0);
  for (let before = -1, now = await seen(); now !== before; before = now, now = await seen())
    await new Promise((r) => setTimeout(r, 200));
}

/** Every instance asked for every controller's latest message; an answer older than the controller's last is stale. */
export async function askAll(c, ctl) {
  let answers = 0;
  let stale = 0;
  let unanswered = 0;
  await Promise.all(
    c.nodes.map(async (_, n) => {
      for (let i = 0; i < ctl.length; i++) {
        const m = await c.latest(n, ctl[i].id);
        if (!m || m.error) {
          unanswered++;
          continue;
        }
        answers++;
        if (m.seq < ctl[i].lastSeq) stale++;
      }
    }),
  );
  return { answers, stale, unanswered };
}

/**
 * One run: `controllers` controllers (`parallel` at a time) against 8 instance processes.
 * `seriesEvery`: ask every instance after every that many controllers (0: only at the end).
 */
/**
 * The guarded run needs a real redis-server: on a fresh Debian machine, as root, the repo's
 * scripts/setup-system.sh installs it (as `pnpm test` does); elsewhere startRedis says what is missing.
 */
function ensureRedis() {
  if (missingForRedis().length === 0) return;
  const setup = fileURLToPath(new URL('../../scripts/setup-system.sh', import.meta.url));
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get') && existsSync(setup))
    spawnSync('bash', [setup], { stdio: 'inherit' });
}

export async function run(
  guarded,
  { controllers = 20, reconnects = 5, parallel = 1, seriesEvery = 1, progress = () => {} } = {},
) {
  if (guarded) ensureRedis();
  const redis = guarded ? await startRedis() : undefined;
  const c = await cluster({ instances: 8, guarded, redisPort: redis?.port });
  try {
    const ports = c.nodes.map((n) => n.port);
    const random = seeded(42);
    const ctl = [];
    const start = Date.now();
    const series = [[0, 0]]; // [seconds, % of answers stale] after each controller
    for (let i = 0; i < controllers; i += parallel) {
      const ids = Array.from(
        { length: Math.min(parallel, controllers - i) },
        (_, k) => `ctl-${i + k}`,
      );
      const done = await Promise.all(
        ids.map((id) => controller(id, ports, { random, reconnects })),
      );
      ctl.push(...done.map((x, k) => ({ id: ids[k], ...x })));
      await new Promise((r) => setTimeout(r, 10)); // let their last lines arrive
      if (seriesEvery && (ctl.length % seriesEvery === 0 || ctl.length === controllers)) {
        const now = await askAll(c, ctl);
        series.push([(Date.now() - start) / 1000, percent(now.stale, now.answers)]);
      }
    }
    await quiet(c);
    const { answers, stale, unanswered } = await askAll(c, ctl);
    const stats = await c.stats();
    const open = stats.reduce((n, s) => n + s.sockets, 0);
    const rejected = stats.reduce((n, s) => n + s.rejected, 0);
    const revokeMs = guarded ? Math.max(...ctl.map(slowestRevokeMs)) : undefined;
    progress(
      `${guarded ? 'guarded' : 'naive'}: ${stale}/${answers} answers stale, ${open} server sockets open for ${controllers} controllers${guarded ? `; old sockets closed within ${revokeMs} ms of the reconnect` : ''}`,
    );
    for (const x of ctl) for (const s of x.sockets) s.destroy();
    return { answers, stale, unanswered, open, rejected, revokeMs, series, controllers };
  } finally {
    await c.close();
    await redis?.stop();
  }
}

const CONTROLLERS = 20;

export default {
  title: '1. Undead sockets and "5-minute-old" messages',
  primitive:
    '@halfopen/epochs-redis FleetEpochs over a real redis-server (8 processes; newest connection owns the peer fleet-wide) + SkewGuard',
  metric: {
    label: 'answers that were stale',
    unit: '%',
    of: (r) => percent(r.stale, r.answers),
    better: 'lower',
  },
  async run({ progress = () => {} } = {}) {
    const naive = await run(false, { controllers: CONTROLLERS, progress });
    const guarded = await run(true, { controllers: CONTROLLERS, progress });
    return {
      naive: {
        suffered: naive.stale / naive.answers > 0.5,
        summary: `${naive.stale}/${naive.answers} answers stale (${percent(naive.stale, naive.answers)}%), over TCP from 8 processes; ${naive.open} sockets open for ${CONTROLLERS} controllers`,
        ...naive,
      },
      guarded: {
        survived: guarded.stale === 0 && guarded.open === CONTROLLERS && guarded.answers > 0,
        summary: `${guarded.stale}/${guarded.answers} answers stale over TCP from 8 processes and a real Redis; every old socket destroyed (${guarded.open} open for ${CONTROLLERS} controllers)`,
        ...guarded,
      },
    };
  },
};
