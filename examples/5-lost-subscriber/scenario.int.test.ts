import { describe, expect, it } from 'vitest';
// Incident 5 on real loopback servers for a few seconds: the integration tier (real servers started by the test).
// @ts-expect-error plain JavaScript example
import scenario from './scenario.mjs';

describe('incident 5 example', () => {
  it('the naive discovery loses updates to a subscriber; rearm + Topic keeps both current', async () => {
    const r = await scenario.run();
    expect(r.naive.suffered).toBe(true);
    expect(r.guarded.survived).toBe(true);
  });
});
