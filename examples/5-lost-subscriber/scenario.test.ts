import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript example
import scenario from './scenario.mjs';

describe('incident 5 example', () => {
  it('the naive discovery loses updates to a subscriber; rearm + Topic keeps both current', async () => {
    const r = await scenario.run();
    expect(r.naive.suffered).toBe(true);
    expect(r.guarded.survived).toBe(true);
  });
});
