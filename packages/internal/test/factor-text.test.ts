import { describe, expect, it } from 'vitest';
import { factor, text } from '../src/index.js';

describe('factor and text checks', () => {
  it('factor accepts a finite multiplier >= 1 and names the option otherwise', () => {
    expect(factor(undefined, 'options.retry.factor', { default: 2 })).toBe(2);
    expect(factor(1.5, 'options.retry.factor')).toBe(1.5);
    expect(() => factor(0.5, 'options.retry.factor')).toThrow(
      /options\.retry\.factor must be a multiplier within 1\.\.\d+, got 0\.5/,
    );
    expect(() => factor(Number.POSITIVE_INFINITY, 'options.retry.factor')).toThrow(RangeError);
    expect(() => factor('2', 'options.retry.factor')).toThrow(TypeError);
  });

  it('text accepts a string or the default and names the option otherwise', () => {
    expect(text(undefined, 'options.name', 'view')).toBe('view');
    expect(text('payments', 'options.name', 'view')).toBe('payments');
    expect(() => text(5, 'options.name', 'view')).toThrow(/options\.name must be a string, got 5/);
  });
});
