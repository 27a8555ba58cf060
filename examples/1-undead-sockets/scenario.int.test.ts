import { describe, expect, it } from 'vitest';
// Incident 1 on real processes: 8 instance processes on loopback, controllers that reconnect
// to random instances and never close their old sockets, every instance asked over TCP for
// every controller's latest message. The guarded fleet coordinates through a real redis-server
// started by the test (the integration tier requires one).
// @ts-expect-error plain JavaScript example
import scenario, { run } from './scenario.mjs';

describe('incident 1: undead sockets across 8 processes', () => {
  it('the lab: naive answers are mostly stale; the guarded fleet on Redis gives none and destroys every old socket', async () => {
    const r = await scenario.run();
    expect(r.naive.stale / r.naive.answers).toBeGreaterThan(0.5);
    expect(r.naive.open).toBeGreaterThan(20);
    expect(r.guarded.stale).toBe(0);
    expect(r.guarded.unanswered).toBe(0);
    expect(r.guarded.answers).toBe(20 * 8);
    expect(r.guarded.open).toBe(20);
  });

  it('200 controllers reconnecting in a storm: 0 stale answers of 1600, old server sockets revoked within 1 s', async () => {
    const r = await run(true, { controllers: 200, parallel: 20, seriesEvery: 0 });
    expect(r.stale).toBe(0);
    expect(r.answers).toBe(200 * 8); // every instance answered for every controller, via its owner
    expect(r.open).toBe(200); // one server socket per controller left: the newest
    expect(r.revokeMs).toBeLessThan(1000);
  });
});
