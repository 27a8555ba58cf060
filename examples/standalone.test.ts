import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '@halfopen/testkit';
import { afterEach, describe, expect, it } from 'vitest';

// Each incident's standalone server and attacker, started as a user would (`node examples/...`,
// running the built packages), naive and guarded side by side on free ports.

const here = fileURLToPath(new URL('.', import.meta.url));
const started: ChildProcess[] = [];

function start(file: string, args: Array<string | number>) {
  const child = spawn(process.execPath, [`${here}${file}`, ...args.map(String)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

const listening = (p: { output: () => string }) =>
  waitFor(() => / on 127\.0\.0\.1:/.test(p.output()), 'the server to listen');
const lastLine = (text: string, has: string) =>
  text
    .split('\n')
    .filter((l) => l.includes(has))
    .at(-1) ?? '';
/** The first of `n` consecutive ports free on 127.0.0.1, below the kernel's ephemeral range. */
async function freeRange(n: number): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const servers: net.Server[] = [];
    try {
      for (let p = base; p < base + n; p++) {
        const s = net.createServer();
        servers.push(s);
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen(p, '127.0.0.1', resolve);
        });
      }
      return base;
    } catch {
      // one was taken: try another range
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterEach(async () => {
  for (const c of started.splice(0)) if (c.exitCode === null) c.kill();
});

describe('the lab run by hand', () => {
  it('1: a controller that reconnects gets stale answers from the naive cluster, none from the guarded one', async () => {
    const a = await freeRange(16); // two clusters of 8 consecutive ports
    const b = a + 8;
    const naive = start('1-undead-sockets/cluster.mjs', ['--port', a]);
    const guarded = start('1-undead-sockets/cluster.mjs', ['--guarded', '--port', b]);
    await Promise.all([listening(naive), listening(guarded)]);
    const cn = start('1-undead-sockets/controller.mjs', ['--port', a, '--reconnects', 5]);
    const cg = start('1-undead-sockets/controller.mjs', ['--port', b, '--reconnects', 5]);
    await waitFor(
      () => cn.output().includes('holding') && cg.output().includes('holding'),
      'both controllers',
    );
    expect(cn.output()).toMatch(/[1-9]\d* stale answers; 0 of 5 old connections closed/);
    expect(cg.output()).toMatch(/\n0 stale answers; 5 of 5 old connections closed by the servers/);
  });

  it('2: the naive push service freezes on the forgotten lock; the guarded one warns and goes on', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const naive = start('2-lock-never-released/server.mjs', ['--port', a, '--rare-every', 50]);
    const guarded = start('2-lock-never-released/server.mjs', [
      '--guarded',
      '--port',
      b,
      '--rare-every',
      50,
    ]);
    await Promise.all([listening(naive), listening(guarded)]);
    for (const port of [a, b]) {
      start('2-lock-never-released/subscriber.mjs', ['--port', port]);
      start('2-lock-never-released/subscriber.mjs', ['--port', port, '--stop-reading']);
    }
    await sleep(4500);
    expect(lastLine(naive.output(), 'quotes pushed')).toMatch(
      /^\[.+\] 51 quotes pushed; consumer waiting for the lock/,
    );
    expect(
      Number(lastLine(guarded.output(), 'quotes pushed').match(/\] (\d+) quotes/)![1]),
    ).toBeGreaterThan(51);
    expect(guarded.output()).toMatch(/HalfopenLockStall: lock consumer held by quote 50 /);
  });

  it('3: a prober that forgets its connections starves the naive worker pool, not the guarded one', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const naive = start('3-lost-rst-probes/server.mjs', ['--port', a]);
    const guarded = start('3-lost-rst-probes/server.mjs', ['--guarded', '--port', b]);
    await Promise.all([listening(naive), listening(guarded)]);
    const pn = start('3-lost-rst-probes/prober.mjs', ['--port', a]);
    const pg = start('3-lost-rst-probes/prober.mjs', ['--port', b]);
    await waitFor(
      () => pn.output().includes('request 4:') && pg.output().includes('request 4:'),
      'four requests each',
      { timeoutMs: 8000 },
    );
    expect(lastLine(pn.output(), 'request 4:')).toMatch(/no answer within 900 ms; [01]\/4 served/);
    expect(lastLine(pg.output(), 'request 4:')).toMatch(/pong; 4\/4 served/);
  });

  it('4: rotating backends leave the naive client in CLOSE_WAIT, never the guarded one', async () => {
    const names = await freePort();
    const backends = start('4-close-wait/backends.mjs', ['--port', names, '--every', 150]);
    await listening(backends);
    const cn = start('4-close-wait/client.mjs', ['--registry', names]);
    const cg = start('4-close-wait/client.mjs', ['--guarded', '--registry', names]);
    await waitFor(
      () =>
        /CLOSE_WAIT[\s\S]*CLOSE_WAIT/.test(cn.output()) &&
        /CLOSE_WAIT[\s\S]*CLOSE_WAIT/.test(cg.output()),
      'two status lines each',
      { timeoutMs: 8000 },
    );
    const closeWait = (p: { output: () => string }) =>
      Number(lastLine(p.output(), 'CLOSE_WAIT').match(/held; (\d+) of our/)![1]);
    // Each counts only its own sockets (by inode), though both use the same backends.
    expect(closeWait(cn)).toBeGreaterThanOrEqual(5);
    expect(closeWait(cg)).toBe(0);
    expect(
      Number(lastLine(cg.output(), 'CLOSE_WAIT').match(/(\d+) connections held/)![1]),
    ).toBeLessThanOrEqual(4);
  });

  it('5: both guarded subscribers follow rolling deploys and a registry restart; the naive ones do not', async () => {
    const port = await freePort();
    let registry = start('5-lost-subscriber/server.mjs', ['--port', port, '--every', 300]);
    await listening(registry);
    const cn = start('5-lost-subscriber/client.mjs', ['--registry', port]);
    const cg = start('5-lost-subscriber/client.mjs', ['--guarded', '--registry', port]);
    await sleep(4200);
    expect(lastLine(cg.output(), 'rpc-client')).toMatch(
      /rpc-client: current; backup-file: current$/,
    );
    expect(lastLine(cn.output(), 'rpc-client')).toMatch(/rpc-client: never received a list/);
    // Restart the registry: the guarded client re-reads and converges.
    registry.child.kill();
    await registry.exited;
    registry = start('5-lost-subscriber/server.mjs', ['--port', port, '--every', 300]);
    await listening(registry);
    const before = cg.output().length;
    await waitFor(
      () => /rpc-client: current; backup-file: current/.test(cg.output().slice(before)),
      'the guarded client to converge after the restart',
      { timeoutMs: 8000 },
    );
  });
});
