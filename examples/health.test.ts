import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '@halfopen/testkit';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import { INTERVAL_MS as PUSH_INTERVAL_MS, pushNode } from './2-lock-never-released/balanced.mjs';
// @ts-expect-error plain JavaScript example
import { request } from './3-lost-rst-probes/server.mjs';
// @ts-expect-error plain JavaScript example
import { INTERVAL_MS as POOL_INTERVAL_MS, workerNode } from './3-lost-rst-probes/balanced.mjs';

// The lab's nodes with @halfopen/health: each fault makes readiness fail within the check
// interval plus 1 s (a bound with slack for a loaded machine), with a reason naming the cause;
// a healthy node under load never fails readiness.

interface LabNode {
  port: number;
  healthPort: number;
  faultAt?: number;
  health: { report(p: 'readiness'): { status: number; body: string } };
  close(): Promise<void>;
  stuck?: () => void;
}
const nodes: LabNode[] = [];
const sockets: net.Socket[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the node's health endpoint as a balancer would, until it answers 503. */
async function until503(
  node: Pick<LabNode, 'healthPort'>,
  limitMs: number,
): Promise<{ at: number; reason: string }> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    const res = await fetch(`http://127.0.0.1:${node.healthPort}/readyz`);
    const body = (await res.json()) as { reason: string };
    if (res.status === 503) return { at: Date.now(), reason: body.reason };
    await sleep(10);
  }
  throw new Error(`readiness still passing after ${limitMs} ms`);
}

function subscriber(port: number): { received: () => number } {
  let n = 0;
  const s = net.connect(port, '127.0.0.1').on('error', () => {});
  s.on('data', (d) => (n += d.length));
  sockets.push(s);
  return { received: () => n };
}

describe('the lab with @halfopen/health readiness', () => {
  it('a push node whose consumer lock froze fails readiness within the interval + 1 s, naming the lock and its holder', async () => {
    const node: LabNode = await pushNode('B', 'frozen-lock');
    nodes.push(node);
    await until503(node, 5000).then(({ at, reason }) => {
      expect(node.faultAt).toBeDefined();
      expect(at - node.faultAt!).toBeLessThan(PUSH_INTERVAL_MS + 1000 + 100); // + warnAfterMs
      expect(reason).toMatch(
        /^consumer-lock: lock consumer held by quote 5 \(token 6\) for \d+ ms \(limit 100 ms\), \d+ waiting$/,
      );
    });
  });

  it('a push node whose consumer stopped (an obsolete topic) fails readiness once a subscriber waits, naming what stopped', async () => {
    const node: LabNode = await pushNode('C', 'stopped-consumer');
    nodes.push(node);
    await sleep(3 * PUSH_INTERVAL_MS);
    expect(node.health.report('readiness').status).toBe(200); // nobody waits yet: idle is fine
    const since = Date.now();
    subscriber(node.port);
    const { at, reason } = await until503(node, 5000);
    expect(at - since).toBeLessThan(PUSH_INTERVAL_MS + 1000 + 300); // + stallMs
    expect(reason).toMatch(/^consumer: quotes pushed: no progress for \d+ ms while 1 wait/);
  });

  it('a worker-pool node whose workers are stuck on silent connections fails readiness, naming the stalled work', async () => {
    const node: LabNode = await workerNode('B');
    nodes.push(node);
    await sleep(2 * POOL_INTERVAL_MS);
    expect(node.health.report('readiness').status).toBe(200);
    node.stuck!();
    const { at, reason } = await until503(node, 5000);
    expect(at - node.faultAt!).toBeLessThan(POOL_INTERVAL_MS + 1000 + 300); // + stallMs
    expect(reason).toMatch(/^workers: requests answered \(4 workers\): no progress for \d+ ms/);
    expect(await request(node.port, 300)).toBe(false); // and indeed it does not serve
  });

  it('healthy nodes under load never fail readiness', async () => {
    const push: LabNode = await pushNode('A', 'none');
    const pool: LabNode = await workerNode('A');
    nodes.push(push, pool);
    const subs = Array.from({ length: 20 }, () => subscriber(push.port));
    await sleep(2 * PUSH_INTERVAL_MS);
    let answered = 0;
    let sent = 0;
    let failed = 0;
    // 8 requests at a time for 2 s (several check intervals), while 20 subscribers read quotes.
    const load = (async () => {
      for (const end = Date.now() + 2000; Date.now() < end; ) {
        sent += 8;
        const batch = await Promise.all(
          Array.from({ length: 8 }, () => request(pool.port, 2000) as Promise<boolean>),
        );
        answered += batch.filter(Boolean).length;
      }
    })();
    let done = false;
    void load.then(() => (done = true));
    while (!done) {
      for (const n of [push, pool]) {
        const r = n.health.report('readiness');
        if (r.status !== 200) {
          failed++;
          console.error(JSON.parse(r.body).reason);
        }
      }
      await sleep(10);
    }
    expect(failed).toBe(0);
    expect(answered).toBe(sent);
    for (const s of subs) expect(s.received()).toBeGreaterThan(0);
  });
});

describe('the lab run by hand with --health', () => {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const start = (file: string, args: number[] | string[]) => {
    const child = spawn(process.execPath, [`${here}${file}`, ...args.map(String)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    return () => out;
  };

  it('the worker-pool server answers 200 on /readyz, then 503 naming the stuck workers once the prober attacks', async () => {
    const port = await freePort();
    const healthPort = await freePort();
    const output = start('3-lost-rst-probes/server.mjs', [
      '--port',
      String(port),
      '--health',
      String(healthPort),
    ]);
    await waitFor(
      () => output().includes(`health endpoint on 127.0.0.1:${healthPort}`),
      'the health endpoint',
    );
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200,
      'readiness',
    );
    start('3-lost-rst-probes/prober.mjs', ['--port', String(port), '--every', '100']);
    const { reason } = await until503({ healthPort }, 15_000);
    expect(reason).toMatch(
      /^workers: requests answered \(4 workers\): no progress for \d+ ms while \d+ wait/,
    );
    // Liveness is not asked here: a check is a liveness check only when added with liveness: true.
    expect((await fetch(`http://127.0.0.1:${healthPort}/livez`)).status).toBe(200);
  }, 30_000);
});
