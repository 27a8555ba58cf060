// One coarse interval timer per (clock, resolution) checks every guard on it. Guards read
// progress counters the socket keeps anyway (bytesRead, the handle's write queue), so a
// `data` event costs the guard nothing, and there is no timer per socket.

/** What a wheel needs of a guard. */
export interface Ticking {
  /** Position in the wheel's array, -1 when not on a wheel. */
  slot: number;
  check(now: number): void;
  /** Subtracts `by` from every time it keeps (the wheel's epoch moved forward by `by`). */
  rebase(by: number): void;
}

// Times are whole ms since the wheel's epoch, so V8 keeps them as small integers inside the
// guard object (a double would be boxed in its own heap object, per field, per socket). Before
// they outgrow the small-integer range (2^30 ms, 12 days), every guard is rebased.
const REBASE_AFTER_MS = 2 ** 29;

export class Wheel {
  readonly guards: Ticking[] = [];
  private timer: NodeJS.Timeout | undefined;
  private epoch: number;

  constructor(
    readonly resolutionMs: number,
    readonly now: () => number,
  ) {
    this.epoch = now();
  }

  /** The wheel's clock: whole ms since its epoch. */
  time(): number {
    return Math.floor(this.now() - this.epoch);
  }

  /** @internal */
  rebaseIfDue(t: number): number {
    if (t < REBASE_AFTER_MS) return t;
    this.epoch += t;
    for (const g of this.guards) g.rebase(t);
    return 0;
  }

  add(g: Ticking): void {
    g.slot = this.guards.length;
    this.guards.push(g);
    if (this.timer === undefined) {
      this.timer = setInterval(tick, this.resolutionMs, this);
      this.timer.unref();
    }
  }

  remove(g: Ticking): void {
    if (g.slot < 0) return;
    const last = this.guards.pop()!;
    if (last !== g) {
      this.guards[g.slot] = last;
      last.slot = g.slot;
    }
    g.slot = -1;
    if (this.guards.length === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      forget(this);
    }
  }
}

function tick(wheel: Wheel): void {
  const now = wheel.rebaseIfDue(wheel.time());
  const guards = wheel.guards;
  // Backwards: a guard removed during its check is replaced by one already checked.
  for (let i = guards.length - 1; i >= 0; i--) guards[i]?.check(now);
}

const wheels = new Map<() => number, Map<number, Wheel>>();

function forget(wheel: Wheel): void {
  const byResolution = wheels.get(wheel.now);
  if (byResolution?.get(wheel.resolutionMs) !== wheel) return;
  byResolution.delete(wheel.resolutionMs);
  if (byResolution.size === 0) wheels.delete(wheel.now);
}

/** The shared wheel for a clock and resolution (an empty wheel stops and is forgotten). */
export function wheelFor(now: () => number, resolutionMs: number): Wheel {
  let byResolution = wheels.get(now);
  if (!byResolution) {
    byResolution = new Map();
    wheels.set(now, byResolution);
  }
  let wheel = byResolution.get(resolutionMs);
  if (!wheel) {
    wheel = new Wheel(resolutionMs, now);
    byResolution.set(resolutionMs, wheel);
  }
  return wheel;
}
