// Inputs a hostile or careless user hands a primitive, for the hostile tier
// (`*.hostile.test.ts`): arbitrary option values, typo'd keys, and user callbacks that throw,
// reject, never settle or return thenables whose then() throws. The only acceptable outcomes
// are a TypeError/RangeError naming the option, or the documented behaviour.
import fc from 'fast-check';

/** Values that break naive option checks: timers past 2^31-1, NaN, strings, negatives, objects. */
export function hostileValue(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constantFrom<unknown>(
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      2 ** 31,
      2 ** 31 - 1,
      2 ** 32,
      2 ** 40,
      2 ** 53,
      30 * 24 * 3600 * 1000,
      -1,
      -0,
      0,
      0.5,
      1,
      1500.5,
      1e-9,
      '5',
      '',
      null,
      true,
      false,
      [],
      {},
      10n,
      Symbol('hostile'),
      () => 1,
    ),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 8 }),
  );
}

/**
 * An options object over `keys` (plus typo'd and unknown keys) with hostile values, sometimes
 * valid ones from `valid` where given, so that the checks after the first are reached too.
 */
export function hostileOptions(
  keys: readonly string[],
  valid: Record<string, fc.Arbitrary<unknown>> = {},
): fc.Arbitrary<Record<string, unknown>> {
  const typos = keys.slice(0, 2).map((k) => k.replace(/Ms$/, 'MS'));
  const value = (k: string) => (valid[k] ? fc.oneof(valid[k], hostileValue()) : hostileValue());
  return fc
    .array(fc.constantFrom(...keys, ...keys, ...typos, 'bogus'), { maxLength: 5 })
    .chain((ks) =>
      fc
        .tuple(...ks.map((k) => value(k).map((v) => [k, v] as const)))
        .map((pairs) => Object.fromEntries(pairs)),
    );
}

/** True when `error` is the documented refusal of bad input: a TypeError/RangeError naming an option. */
export function isOptionError(error: unknown, name = 'options'): boolean {
  return (
    (error instanceof TypeError || error instanceof RangeError) &&
    new RegExp(`\\b${name.replace('.', '\\.')}\\b`).test(error.message)
  );
}

/** How a user callback misbehaves. */
export type Misbehaviour =
  | 'returns'
  | 'throws'
  | 'rejects'
  | 'never-settles'
  | 'then-throws'
  | 'returns-garbage';

export function misbehaviour(): fc.Arbitrary<Misbehaviour> {
  return fc.constantFrom(
    'returns',
    'throws',
    'rejects',
    'never-settles',
    'then-throws',
    'returns-garbage',
  );
}

/**
 * A callback that misbehaves as told; `value` is what a well-behaved one returns. Never-settling
 * promises are real pending promises (the tier asserts the primitive does not wait on them forever).
 */
export function misbehave<T>(how: Misbehaviour, value: T): (...args: unknown[]) => unknown {
  switch (how) {
    case 'returns':
      return () => value;
    case 'throws':
      return () => {
        throw new Error('hostile callback throws');
      };
    case 'rejects':
      return () => Promise.reject(new Error('hostile callback rejects'));
    case 'never-settles':
      return () => new Promise(() => {});
    case 'then-throws':
      return () => ({
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
        then() {
          throw new Error('hostile thenable then() throws');
        },
      });
    case 'returns-garbage':
      return () => Symbol('garbage');
  }
}
