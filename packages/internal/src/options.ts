// Option checks shared by every package. Each check takes the value and its full name as the
// user wrote it (`options.readIdleMs`, `options.keepAlive.idleMs`) and throws a TypeError
// (wrong type) or RangeError (wrong value) that names the option, its unit and what it got.

/** The longest delay Node's timers honour; past it Node fires after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A value as an error message shows it: strings quoted, numbers as written, else the type. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

/**
 * Checks that `options` is undefined or a plain object whose keys are all in `keys`, and
 * returns it (or `{}`). An unknown key, such as the typo `readIdleMS`, is a TypeError naming it
 * and the nearest known key, so a mistyped deadline never silently turns into no deadline.
 */
export function checkOptions<T extends object>(
  options: T | undefined,
  keys: readonly string[],
  name = 'options',
): T {
  if (options === undefined) return {} as T;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${name} must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) {
      const near = keys.find((k) => k.toLowerCase() === key.toLowerCase());
      throw new TypeError(
        `${name}.${key} is not an option${near ? ` (did you mean ${name}.${near}?)` : ''}; known: ${keys.join(', ')}`,
      );
    }
  }
  return options;
}

export interface NumberCheck {
  /** Returned when the value is undefined; without it, undefined is a TypeError (required). */
  default?: number;
  /** Smallest allowed value. Default: 0. */
  min?: number;
  /** Largest allowed value. Default: Number.MAX_SAFE_INTEGER. */
  max?: number;
}

export interface MsCheck extends NumberCheck {
  /**
   * Largest allowed value. Default: MAX_TIMER_MS (2^31-1), the longest a Node timer honours.
   * A package that chains long timers itself (`longTimeout`) may pass a larger limit.
   */
  max?: number;
  /** 0 is accepted and means "off" (documented per option). Default: false. */
  zeroOff?: boolean;
  /** Round up to an integer (for APIs such as AbortSignal.timeout that want one). Default: false. */
  integer?: boolean;
}

function number(v: unknown, name: string, unit: string, c: NumberCheck): number | undefined {
  if (v === undefined) {
    if ('default' in c) return c.default;
    throw new TypeError(`${name} is required (${unit})`);
  }
  if (typeof v !== 'number' || Number.isNaN(v)) {
    throw new TypeError(`${name} must be a number (${unit}), got ${describe(v)}`);
  }
  return v;
}

function range(v: number, name: string, unit: string, min: number, max: number, off = ''): void {
  if (!(v >= min && v <= max)) {
    throw new RangeError(`${name} must be ${unit} within ${min}..${max}${off}, got ${v}`);
  }
}

/** A duration in milliseconds: finite, within min..max (max defaults to what a timer honours). */
export function ms(v: unknown, name: string, c: MsCheck = {}): number {
  const n = number(v, name, 'milliseconds', c);
  if (n === undefined) return n as unknown as number;
  const max = c.max ?? MAX_TIMER_MS;
  const min = c.min ?? 0;
  if (n === 0 && c.zeroOff) return 0;
  range(n, name, 'milliseconds', min, max, c.zeroOff ? ' (0 = off)' : '');
  return c.integer ? Math.ceil(n) : n;
}

/** A whole number of things (retries, probes, entries). */
export function count(v: unknown, name: string, c: NumberCheck = {}): number {
  const n = number(v, name, 'a count', c);
  if (n === undefined) return n as unknown as number;
  const min = c.min ?? 0;
  const max = c.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${name} must be an integer within ${min}..${max}, got ${n}`);
  }
  return n;
}

/** A fraction within 0..1 (jitter, ratios). */
export function fraction(v: unknown, name: string, c: NumberCheck = {}): number {
  const n = number(v, name, 'a fraction', c);
  if (n === undefined) return n as unknown as number;
  range(n, name, 'a fraction', c.min ?? 0, c.max ?? 1);
  return n;
}

/** A rate in bytes per second. */
export function rate(v: unknown, name: string, c: NumberCheck = {}): number {
  const n = number(v, name, 'bytes per second', c);
  if (n === undefined) return n as unknown as number;
  range(n, name, 'bytes per second', c.min ?? 0, c.max ?? Number.MAX_SAFE_INTEGER);
  return n;
}

/** A size in bytes (an integer). */
export function bytes(v: unknown, name: string, c: NumberCheck = {}): number {
  const n = number(v, name, 'bytes', c);
  if (n === undefined) return n as unknown as number;
  const min = c.min ?? 0;
  const max = c.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${name} must be a whole number of bytes within ${min}..${max}, got ${n}`);
  }
  return n;
}

/** A multiplier (a backoff factor): finite, within min..max (default 1..Number.MAX_SAFE_INTEGER). */
export function factor(v: unknown, name: string, c: NumberCheck = {}): number {
  const n = number(v, name, 'a multiplier', c);
  if (n === undefined) return n as unknown as number;
  range(n, name, 'a multiplier', c.min ?? 1, c.max ?? Number.MAX_SAFE_INTEGER);
  return n;
}

/** An optional string (a name for diagnostics). */
export function text(v: unknown, name: string, def: string): string {
  if (v === undefined) return def;
  if (typeof v !== 'string') throw new TypeError(`${name} must be a string, got ${describe(v)}`);
  return v;
}

/** An optional function. */
export function fn<F extends (...args: any[]) => unknown>(
  v: F | undefined,
  name: string,
): F | undefined {
  if (v !== undefined && typeof v !== 'function') {
    throw new TypeError(`${name} must be a function, got ${describe(v)}`);
  }
  return v;
}

/** An optional boolean. */
export function bool(v: unknown, name: string, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(v)}`);
  return v;
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(v: unknown, name: string, values: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (typeof v !== 'string' || !values.includes(v as T)) {
    throw new TypeError(
      `${name} must be one of ${values.map((x) => `'${x}'`).join(', ')}, got ${describe(v)}`,
    );
  }
  return v as T;
}

/** An optional AbortSignal. */
export function signal(v: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (v === undefined) return undefined;
  if (!(v instanceof AbortSignal)) {
    throw new TypeError(`${name} must be an AbortSignal, got ${describe(v)}`);
  }
  return v;
}
