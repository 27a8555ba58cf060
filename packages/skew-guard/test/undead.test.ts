import { describe, expect, it } from 'vitest';
// The incident lab's own scenario (incident 1), on real loopback sockets.
// @ts-expect-error plain JavaScript example
import scenario from '../../../examples/1-undead-sockets/scenario.mjs';

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
