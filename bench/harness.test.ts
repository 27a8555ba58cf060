import { describe, expect, it } from 'vitest';
import { opsPerSec, score, table } from './harness.js';

describe('bench harness', () => {
  it('scores ratios in the right direction for rates and for costs', () => {
    const base = { name: 's', ours: 'a', rival: 'b', target: 1, run: async () => [] };
    const m = [
      { name: 'a', value: 200, unit: 'x' },
      { name: 'b', value: 100, unit: 'x' },
    ];
    expect(score({ ...base, higherIsBetter: true }, m).ratio).toBe(2);
    expect(score({ ...base, higherIsBetter: false }, m).ratio).toBe(0.5);
    expect(score({ ...base, higherIsBetter: false }, m).met).toBe(false);
    expect(() => score({ ...base, rival: 'zzz', higherIsBetter: true }, m)).toThrow(/zzz/);
  });

  it('prints each measurement, the ratio and whether the target is met', () => {
    const r = score(
      {
        name: 'demo',
        ours: 'a',
        rival: 'b',
        target: 0.9,
        higherIsBetter: true,
        run: async () => [],
      },
      [
        { name: 'a', value: 95, unit: 'ops/s' },
        { name: 'b', value: 100, unit: 'ops/s' },
      ],
    );
    expect(table(r)).toMatch(/## demo[\s\S]*a vs b: 0\.95x \(target >= 0\.9x\) met/);
  });

  it('measures a faster function as faster', async () => {
    const arr = Array.from({ length: 1000 }, (_, i) => i);
    const cheap = await opsPerSec(() => arr[5], { samples: 3, sampleMs: 20 });
    const dear = await opsPerSec(() => arr.reduce((a, b) => a + b, 0), {
      samples: 3,
      sampleMs: 20,
    });
    expect(cheap).toBeGreaterThan(dear);
  });
});
