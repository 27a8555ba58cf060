import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import scenario from './scenario.mjs';

describe('incident 4 example', () => {
  it('the naive map piles up CLOSE_WAIT; the ConnectionMap ends at 0', async () => {
    const r = await scenario.run();
    expect(r.naive.suffered).toBe(true);
    expect(r.guarded.survived).toBe(true);
  });
});
