import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import scenario from './scenario.mjs';

describe('incident 2 example', () => {
  it('the naive consumer freezes on the forgotten lock; the guarded one recovers and cuts the stopped reader; behind a balancer, readiness takes the frozen nodes out', async () => {
    const r = await scenario.run();
    expect(r.naive.suffered).toBe(true);
    expect(r.guarded.survived).toBe(true);
    // Behind a balancer, health readiness takes the frozen and the obsolete-topic nodes out.
    expect(r.balancer.health.reached).toBeGreaterThan(r.balancer.tcp.reached);
    expect(r.balancer.health.frozen.reason).toMatch(
      /^consumer-lock: lock consumer held by quote 5 /,
    );
    expect(r.balancer.health.stopped.reason).toMatch(/^consumer: quotes pushed: no progress/);
  }, 60_000); // the balancer runs add about 9 s to the scenario
});
