import { describe, expect, it } from 'vitest';
// Incident 1's scenario on real loopback sockets: 8 servers and 20 reconnecting controllers,
// several seconds, so it runs in the integration tier (real servers started by the test).
// @ts-expect-error plain JavaScript example
import scenario from './scenario.mjs';

describe('incident 1: undead sockets', () => {
  it('naive answers are mostly stale; with ConnectionEpochs and a supersede broadcast none are and old sockets are destroyed', async () => {
    const r = await scenario.run();
    expect(r.naive.stale / r.naive.answers).toBeGreaterThan(0.5);
    expect(r.naive.open).toBeGreaterThan(20);
    expect(r.guarded.stale).toBe(0);
    expect(r.guarded.answers).toBeGreaterThan(0);
    expect(r.guarded.open).toBe(20);
  });
});
