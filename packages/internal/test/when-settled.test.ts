import { misbehave } from '@halfopen/testkit';
import { describe, expect, it } from 'vitest';
import { whenSettled } from '../src/index.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('whenSettled', () => {
  it('returns false for values that are not thenables and calls nothing', () => {
    const calls: string[] = [];
    for (const v of [undefined, null, 1, 'x', {}, () => 1, Symbol('s')]) {
      expect(
        whenSettled(
          v,
          () => calls.push('settled'),
          () => calls.push('error'),
        ),
      ).toBe(false);
    }
    expect(calls).toEqual([]);
  });

  it('calls onSettled once when a pending promise fulfils or rejects, the rejection reported first', async () => {
    const calls: string[] = [];
    const push = (s: string) => () => calls.push(s);
    expect(whenSettled(Promise.resolve(1), push('ok'), push('error-1'))).toBe(true);
    expect(whenSettled(Promise.reject(new Error('r')), push('settled-2'), push('error-2'))).toBe(
      true,
    );
    await tick();
    expect(calls).toEqual(['ok', 'error-2', 'settled-2']);
  });

  it('a then() that throws is reported and nothing is left to wait for', () => {
    const errors: unknown[] = [];
    let settled = 0;
    const r = misbehave('then-throws', 0)();
    expect(
      whenSettled(
        r,
        () => settled++,
        (e) => errors.push(e),
      ),
    ).toBe(false);
    expect(settled).toBe(0);
    expect(String(errors[0])).toMatch(/then\(\) throws/);
  });

  it('a thenable that settles inside then(), or calls back twice, is waited for at most once', () => {
    let settled = 0;
    const errors: unknown[] = [];
    const sync = {
      // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
      then(ok: () => void, fail: (e: unknown) => void) {
        ok();
        fail(new Error('late'));
        ok();
      },
    };
    expect(
      whenSettled(
        sync,
        () => settled++,
        (e) => errors.push(e),
      ),
    ).toBe(false);
    let later: (() => void) | undefined;
    const async = {
      // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
      then(ok: () => void) {
        later = ok;
      },
    };
    expect(
      whenSettled(
        async,
        () => settled++,
        (e) => errors.push(e),
      ),
    ).toBe(true);
    later!();
    later!();
    expect(settled).toBe(1);
    expect(errors).toEqual([]);
  });
});
