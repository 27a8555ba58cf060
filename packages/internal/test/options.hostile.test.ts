import { hostileValue, isOptionError } from '@halfopen/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytes, count, fraction, MAX_TIMER_MS, ms, rate } from '../src/index.js';

describe('option checks under arbitrary values', () => {
  it('return a value within the documented range or throw an error naming the option', () => {
    fc.assert(
      fc.property(hostileValue(), (v) => {
        for (const [check, lo, hi] of [
          [(x: unknown) => ms(x, 'options.t', { default: 0 }), 0, MAX_TIMER_MS],
          [(x: unknown) => count(x, 'options.t', { default: 0 }), 0, Number.MAX_SAFE_INTEGER],
          [(x: unknown) => fraction(x, 'options.t', { default: 0 }), 0, 1],
          [(x: unknown) => rate(x, 'options.t', { default: 0 }), 0, Number.MAX_SAFE_INTEGER],
          [(x: unknown) => bytes(x, 'options.t', { default: 0 }), 0, Number.MAX_SAFE_INTEGER],
        ] as const) {
          try {
            const n = check(v);
            expect(typeof n).toBe('number');
            expect(n >= lo && n <= hi).toBe(true);
          } catch (error) {
            expect(isOptionError(error, 'options.t')).toBe(true);
          }
        }
      }),
    );
  });
});
