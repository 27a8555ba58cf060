import diagnostics from 'node:diagnostics_channel';
import { dirname } from 'node:path';
import { startPostgres } from '@halfopen/testkit';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { pgStream } from '../src/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pg through pgStream against a real PostgreSQL', () => {
  it('queries after a 3 s gap succeed while the server ends sessions idle for 2 s', async () => {
    const pgs = await startPostgres({ settings: { idle_session_timeout: '2s' } });
    const stream = pgStream();
    const pool = new pg.Pool({
      host: pgs.host,
      port: pgs.port,
      user: pgs.user,
      database: pgs.database,
      stream,
      max: 4,
    });
    const poolErrors: string[] = [];
    pool.on('error', (e) => poolErrors.push(e.message));
    try {
      for (let round = 0; round < 3; round++) {
        const rows = await Promise.all(
          [1, 2, 3, 4].map(async (n) => (await pool.query('select $1::int as n', [n])).rows[0].n),
        );
        expect(rows).toEqual([1, 2, 3, 4]);
        await sleep(3000);
      }
      // The server did end idle sessions (the pool saw them go, as errors of idle clients);
      // no query met a dead one.
      expect(poolErrors.length).toBeGreaterThan(0);
    } finally {
      await pool.end();
      await pgs.stop();
    }
  });

  it('retires 100 idle connections past maxAgeMs 2 s with jitter 0.5 spread over time, never all within 100 ms', async () => {
    const pgs = await startPostgres();
    const stream = pgStream({ maxAgeMs: 2000, maxAgeJitter: 0.5 });
    const pool = new pg.Pool({
      host: pgs.host,
      port: pgs.port,
      user: pgs.user,
      database: pgs.database,
      stream,
      max: 100,
      idleTimeoutMillis: 0,
    });
    pool.on('error', () => {});
    const cuts: number[] = [];
    const onCut = (m: unknown) => {
      if ((m as { client: string; reason: string }).reason === 'max-age')
        cuts.push(performance.now());
    };
    diagnostics.subscribe('halfopen:clients:cut', onCut);
    try {
      const clients = await Promise.all(Array.from({ length: 100 }, () => pool.connect()));
      for (const c of clients) c.release();
      await sleep(3000);
      expect(stream.stats().cutMaxAge).toBe(100);
      expect(cuts.length).toBe(100);
      cuts.sort((a, b) => a - b);
      expect(cuts[99]! - cuts[0]!).toBeGreaterThan(100);
      // Next queries reconnect and succeed.
      expect((await pool.query('select 1 as one')).rows[0].one).toBe(1);
    } finally {
      diagnostics.unsubscribe('halfopen:clients:cut', onCut);
      await pool.end();
      await pgs.stop();
    }
  });

  it('never retires a connection under a query in flight', async () => {
    const pgs = await startPostgres();
    const stream = pgStream({ maxAgeMs: 300, maxAgeJitter: 0 });
    const pool = new pg.Pool({
      host: pgs.host,
      port: pgs.port,
      user: pgs.user,
      database: pgs.database,
      stream,
      max: 1,
    });
    pool.on('error', () => {});
    try {
      const r = await pool.query('select pg_sleep(1), 7 as seven');
      expect(r.rows[0].seven).toBe(7);
      await sleep(100);
      expect(stream.stats().cutMaxAge).toBe(1);
    } finally {
      await pool.end();
      await pgs.stop();
    }
  });

  it('connects over a Unix socket too (no TCP options to set there)', async () => {
    const pgs = await startPostgres();
    const stream = pgStream();
    // The server's socket lives beside its data directory (startPostgres passes -k there).
    const client = new pg.Client({
      host: dirname(pgs.dataDir),
      port: pgs.port,
      user: pgs.user,
      database: pgs.database,
      stream,
    });
    try {
      await client.connect();
      expect((await client.query('select 5 as five')).rows[0].five).toBe(5);
      expect(stream.stats()).toMatchObject({ created: 1, failed: 0 });
    } finally {
      await client.end();
      await pgs.stop();
    }
  });
});
