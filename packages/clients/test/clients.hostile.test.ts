import http from 'node:http';
import type net from 'node:net';
import { hostileOptions, isOptionError, misbehave, misbehaviour } from '@halfopen/testkit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, guardRedis, pgStream, undiciConnector } from '../src/index.js';

// Arbitrary options for every entry point, and a misbehaving random source for the max-age
// jitter. The only acceptable outcomes: a TypeError/RangeError naming an option at
// construction, or the documented behaviour (requests answered, counters never negative,
// nothing left open after destroy, no unhandled rejection).

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

const DIAL = [
  'connectTimeoutMs',
  'keepAlive',
  'userTimeoutMs',
  'writeStallMs',
  'maxAgeMs',
  'maxAgeJitter',
];
const valid = {
  connectTimeoutMs: fc.integer({ min: 1, max: 60_000 }),
  userTimeoutMs: fc.integer({ min: 0, max: 60_000 }),
  writeStallMs: fc.integer({ min: 0, max: 60_000 }),
  maxAgeMs: fc.integer({ min: 0, max: 60_000 }),
  maxAgeJitter: fc.double({ min: 0, max: 1, noNaN: true }),
  keepAlive: fc.oneof(
    fc.constant(false as const),
    fc.record({
      idleMs: fc.integer({ min: 1000, max: 60_000 }),
      intervalMs: fc.integer({ min: 1000, max: 60_000 }),
      count: fc.integer({ min: 1, max: 127 }),
    }),
  ),
  freeSocketTimeoutMs: fc.integer({ min: 1, max: 60_000 }),
  readIdleMs: fc.integer({ min: 0, max: 60_000 }),
  retryReused: fc.boolean(),
  maxSockets: fc.integer({ min: 1, max: 100 }),
  scheduling: fc.constantFrom('fifo', 'lifo'),
};

/** Runs make(options): returns what it made, or undefined when it threw an option error. */
function build<T>(make: () => T): T | undefined {
  try {
    return make();
  } catch (err) {
    if (!isOptionError(err) && !isOptionError(err, 'redis')) throw err;
    return undefined;
  }
}

describe('clients under hostile input (hostile)', () => {
  it('new Agent(arbitrary options) works or throws an error naming the option', () => {
    const keys = [
      ...DIAL,
      'freeSocketTimeoutMs',
      'readIdleMs',
      'retryReused',
      'maxSockets',
      'scheduling',
      'random',
    ];
    fc.assert(
      fc.property(hostileOptions(keys, valid), (o) => {
        build(() => new Agent(o as never))?.destroy();
      }),
    );
  });

  it('undiciConnector, pgStream and guardRedis with arbitrary options work or throw an error naming the option', () => {
    const fake = { on() {}, removeListener() {} };
    fc.assert(
      fc.property(hostileOptions([...DIAL, 'tls'], valid), (o) => {
        build(() => undiciConnector(o as never));
        const factory = build(() => pgStream(o as never));
        factory?.stats();
        build(() => guardRedis(fake, o as never))?.dispose();
      }),
    );
  });

  it('a misbehaving random source for the jitter never breaks requests or counters', async () => {
    const server = http.createServer((req, res) => {
      req.resume();
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      await fc.assert(
        fc.asyncProperty(misbehaviour(), fc.anything(), async (how, value) => {
          const agent = new Agent({ maxAgeMs: 50, random: misbehave(how, value) as () => number });
          for (let i = 0; i < 3; i++) {
            const status = await new Promise<number | undefined>((resolve, reject) => {
              http
                .get({ host: '127.0.0.1', port, agent }, (res) => {
                  res.resume();
                  res.on('end', () => resolve(res.statusCode));
                })
                .on('error', reject);
            });
            expect(status).toBe(200);
          }
          agent.destroy();
          await new Promise((r) => setTimeout(r, 5));
          const s = agent.stats();
          for (const [k, v] of Object.entries(s)) expect(v, k).toBeGreaterThanOrEqual(0);
          expect(s.open).toBe(0);
        }),
        { numRuns: 20 },
      );
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    expect(unhandled).toEqual([]);
  });
});
