import { type PostgresServer, startPostgres, withNetns } from '@halfopen/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { pgStream } from '../src/index.js';

// keepalive idle 1 s, interval 1 s, 2 probes: a dead server is noticed within 3 s (TCP_USER_TIMEOUT
// defaults to the same). pg's defaults leave it to the kernel: 2 h idle, ~15 min in flight.
const keepAlive = { idleMs: 1000, intervalMs: 1000, count: 2 };
const detectionMs = 3000;

async function withPg(
  body: (pgs: PostgresServer, ns: Parameters<Parameters<typeof withNetns>[0]>[0]) => Promise<void>,
) {
  await withNetns(async (ns) => {
    const pgs = await startPostgres();
    try {
      await body(pgs, ns);
    } finally {
      await pgs.stop();
    }
  });
}

describe('pg through pgStream with the server black-holed', () => {
  it('fails a query in flight within the detection time + 1 s, and the next query succeeds once the server is back', async () => {
    await withPg(async (pgs, ns) => {
      const stream = pgStream({ keepAlive });
      const pool = new pg.Pool({
        host: pgs.host,
        port: pgs.port,
        user: pgs.user,
        database: pgs.database,
        stream,
        max: 2,
      });
      const poolErrors: Error[] = [];
      pool.on('error', (e) => poolErrors.push(e));
      try {
        expect((await pool.query('select 1 as one')).rows[0].one).toBe(1);
        const inFlight = pool.query('select pg_sleep(30)');
        const settled = inFlight.then(
          () => 'resolved',
          (e: Error) => e,
        );
        await new Promise((r) => setTimeout(r, 200));
        const rules = await ns.blackhole(pgs.port);
        const t0 = performance.now();
        const outcome = await settled;
        const elapsed = performance.now() - t0;
        expect(outcome).toBeInstanceOf(Error);
        expect(elapsed).toBeLessThan(detectionMs + 1000);
        await ns.remove(rules);
        expect((await pool.query('select 2 as two')).rows[0].two).toBe(2);
        expect(stream.stats().failed).toBeGreaterThanOrEqual(1);
      } finally {
        await pool.end();
      }
    });
  });

  it('notices an idle pooled connection to a vanished server within the detection time + 1 s', async () => {
    await withPg(async (pgs, ns) => {
      const stream = pgStream({ keepAlive });
      const pool = new pg.Pool({
        host: pgs.host,
        port: pgs.port,
        user: pgs.user,
        database: pgs.database,
        stream,
        max: 1,
        idleTimeoutMillis: 0,
      });
      const errors: number[] = [];
      let t0 = 0;
      pool.on('error', () => errors.push(performance.now() - t0));
      try {
        await pool.query('select 1');
        const rules = await ns.blackhole(pgs.port);
        t0 = performance.now();
        const deadline = t0 + detectionMs + 1000;
        while (errors.length === 0 && performance.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        expect(errors.length).toBe(1);
        expect(errors[0]).toBeLessThan(detectionMs + 1000);
        expect(pool.totalCount).toBe(0);
        await ns.remove(rules);
        expect((await pool.query('select 3 as three')).rows[0].three).toBe(3);
      } finally {
        await pool.end();
      }
    });
  });

  it('ends a connect the black-holed server never answers at connectTimeoutMs, with a coded error', async () => {
    await withNetns(async (ns) => {
      const port = 15432;
      const rules = await ns.blackhole(port);
      const stream = pgStream({ connectTimeoutMs: 300 });
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', stream });
      client.on('error', () => {});
      try {
        const t0 = performance.now();
        const err = (await client.connect().catch((e: unknown) => e)) as { code?: string };
        expect(err.code).toBe('HALFOPEN_ERR_CONNECT_TIMEOUT');
        expect(performance.now() - t0).toBeLessThan(300 + 1000);
        await new Promise((r) => setTimeout(r, 20)); // the socket's 'close' follows its destroy
        expect(stream.stats()).toMatchObject({ connectTimedOut: 1, open: 0 });
      } finally {
        await ns.remove(rules);
      }
    });
  });
});
