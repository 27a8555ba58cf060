import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import scenario from './scenario.mjs';

describe('incident 2 example', () => {
  it('the naive consumer freezes on the forgotten lock; the guarded one recovers and cuts the stopped reader', async () => {
    const r = await scenario.run();
    expect(r.naive.suffered).toBe(true);
    expect(r.guarded.survived).toBe(true);
  });
});
