// One coarse interval timer per (clock, resolution) checks every guard on it. Guards read
// progress counters the socket keeps anyway (bytesRead, the handle's write queue), so a
// `data` event costs the guard nothing, and there is no timer per socket.
import { callUser, describe, publish } from '@halfopen/internal';
import { channels } from './diagnostics.js';

/**
 * How a wheel reaches what it ticks. A guard keeps its slot, check and rebase #private and
 * hands the wheel these accessors (from its class's static block), so nothing else can.
 */
export interface TickHooks<T> {
  /** Position in the wheel's array, -1 when not on a wheel. */
  slot(item: T): number;
  setSlot(item: T, slot: number): void;
  check(item: T, now: number): void;
  /** Subtracts `by` from every time it keeps (the wheel's epoch moved forward by `by`). */
  rebase(item: T, by: number): void;
  /** A check threw (a bug, or a socket whose getters throw): the wheel drops the item. */
  fail(item: T, error: unknown): void;
}

// Times are whole ms since the wheel's epoch, so V8 keeps them as small integers inside the
// guard object (a double would be boxed in its own heap object, per field, per socket). Before
// they outgrow the small-integer range (2^30 ms, 12 days), every guard is rebased.
export const REBASE_AFTER_MS = 2 ** 29;

export class Wheel<T> {
  readonly items: T[] = [];
  #timer: NodeJS.Timeout | undefined;
  #epoch: number;
  #last = 0;

  constructor(
    readonly resolutionMs: number,
    readonly now: () => number,
    readonly hooks: TickHooks<T>,
  ) {
    this.#epoch = 0;
    this.#epoch = this.time(); // the clock was checked when the options were validated
    this.#last = 0;
  }

  /**
   * The wheel's clock: whole ms since its epoch. A clock that throws or stops giving finite
   * numbers is reported on the error channel and the last good reading stands (time does not
   * move for this wheel until the clock recovers).
   */
  time(): number {
    let failed = false;
    const t = callUser(this.now, [], (error) => {
      failed = true;
      publish(channels.error, { error, during: 'now' });
    });
    if (failed) return this.#last;
    if (typeof t !== 'number' || !Number.isFinite(t)) {
      publish(channels.error, {
        error: new TypeError(`options.now returned ${describe(t)}, not a finite number`),
        during: 'now',
      });
      return this.#last;
    }
    this.#last = Math.floor(t - this.#epoch);
    return this.#last;
  }

  /** Moves the epoch forward when times grow past the small-integer range; returns the new time. */
  rebaseIfDue(t: number): number {
    if (t < REBASE_AFTER_MS) return t;
    this.#epoch += t;
    this.#last -= t;
    for (const g of this.items) this.hooks.rebase(g, t);
    return 0;
  }

  add(g: T): void {
    this.hooks.setSlot(g, this.items.length);
    this.items.push(g);
    if (this.#timer === undefined) {
      this.#timer = setInterval(tick, this.resolutionMs, this);
      this.#timer.unref();
    }
  }

  remove(g: T): void {
    const slot = this.hooks.slot(g);
    if (slot < 0) return;
    const last = this.items.pop()!;
    if (last !== g) {
      this.items[slot] = last;
      this.hooks.setSlot(last, slot);
    }
    this.hooks.setSlot(g, -1);
    if (this.items.length === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      forget(this);
    }
  }
}

function tick<T>(wheel: Wheel<T>): void {
  const now = wheel.rebaseIfDue(wheel.time());
  const items = wheel.items;
  const hooks = wheel.hooks;
  // Backwards: an item removed during its check is replaced by one already checked. One
  // item's failure must not keep the others from being checked.
  for (let i = items.length - 1; i >= 0; i--) {
    const g = items[i];
    if (g === undefined) continue;
    try {
      hooks.check(g, now);
    } catch (error) {
      hooks.fail(g, error);
    }
  }
}

const wheels = new Map<() => number, Map<number, Wheel<any>>>();

function forget<T>(wheel: Wheel<T>): void {
  const byResolution = wheels.get(wheel.now);
  if (byResolution?.get(wheel.resolutionMs) !== wheel) return;
  byResolution.delete(wheel.resolutionMs);
  if (byResolution.size === 0) wheels.delete(wheel.now);
}

/** The shared wheel for a clock and resolution (an empty wheel stops and is forgotten). */
export function wheelFor<T>(
  now: () => number,
  resolutionMs: number,
  hooks: TickHooks<T>,
): Wheel<T> {
  let byResolution = wheels.get(now);
  if (!byResolution) {
    byResolution = new Map();
    wheels.set(now, byResolution);
  }
  let wheel = byResolution.get(resolutionMs) as Wheel<T> | undefined;
  if (!wheel) {
    wheel = new Wheel(resolutionMs, now, hooks);
    byResolution.set(resolutionMs, wheel);
  }
  return wheel;
}
