import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import scenario from './scenario.mjs';

describe('incident 3 example', () => {
  it('the naive worker pool starves and the guarded one serves every request; behind a balancer, readiness takes the stuck node out', async () => {
    const r = await scenario.run();
    expect(r.naive.suffered).toBe(true);
    expect(r.guarded.survived).toBe(true);
    // Behind a balancer, health readiness takes the node with stuck workers out.
    expect(r.balancer.health.reached).toBeGreaterThan(r.balancer.tcp.reached);
    expect(r.balancer.health.stuck.reason).toMatch(/^workers: requests answered .*no progress/);
  }, 60_000); // the balancer runs add about 9 s to the scenario
});
