// The benchmark harness: a scenario measures our primitive and the rival a user would pick
// instead in the same process run, and reports the ratio against a target.

export interface Measurement {
  /** Row label, e.g. 'guardSocket' or 'eventemitter3'. */
  name: string;
  value: number;
  unit: string;
}

export interface Scenario {
  /** What is measured, e.g. 'echo throughput, 1,000 connections'. */
  name: string;
  /** Which measurement is ours and which is the rival the ratio compares against. */
  ours: string;
  rival: string;
  /** true when a larger value is better (ops/s); false for costs (bytes, ms). */
  higherIsBetter: boolean;
  /** The ratio ours/rival (as "times as good") the issue asks for, e.g. 0.95 or 20. */
  target: number;
  run(): Promise<Measurement[]>;
}

export interface ScenarioResult {
  scenario: string;
  ours: string;
  rival: string;
  /** ours vs rival, > 1 means ours is better, whichever direction the unit goes. */
  ratio: number;
  target: number;
  met: boolean;
  measurements: Measurement[];
}

export function score(s: Scenario, measurements: Measurement[]): ScenarioResult {
  const get = (name: string) => {
    const m = measurements.find((x) => x.name === name);
    if (!m) throw new Error(`scenario "${s.name}" measured no "${name}"`);
    return m.value;
  };
  const ours = get(s.ours);
  const rival = get(s.rival);
  const ratio = s.higherIsBetter ? ours / rival : rival / ours;
  return {
    scenario: s.name,
    ours: s.ours,
    rival: s.rival,
    ratio,
    target: s.target,
    met: ratio >= s.target,
    measurements,
  };
}

const fmt = (n: number) =>
  Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toPrecision(3);

/** A plain-text table for one scenario's result. */
export function table(r: ScenarioResult): string {
  const width = Math.max(...r.measurements.map((m) => m.name.length), 8);
  const lines = [`## ${r.scenario}`];
  for (const m of r.measurements)
    lines.push(`  ${m.name.padEnd(width)}  ${fmt(m.value).padStart(14)} ${m.unit}`);
  lines.push(
    `  ${r.ours} vs ${r.rival}: ${r.ratio.toFixed(2)}x (target >= ${r.target}x) ${r.met ? 'met' : 'NOT MET'}`,
  );
  return lines.join('\n');
}

/**
 * Operations per second of `fn`, which performs `opsPerCall` operations per call: warms up,
 * then takes the median of `samples` timed batches of about `sampleMs` each.
 */
export async function opsPerSec(
  fn: () => unknown,
  { opsPerCall = 1, samples = 7, sampleMs = 150 } = {},
): Promise<number> {
  let batch = 1;
  // Warm up and size the batch so one sample lasts about sampleMs.
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < batch; i++) fn();
    const dt = performance.now() - t;
    if (dt >= sampleMs / 4) {
      batch = Math.max(1, Math.round((batch * sampleMs) / dt));
      break;
    }
    batch *= 4;
  }
  const rates: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t = performance.now();
    for (let i = 0; i < batch; i++) fn();
    rates.push((batch * opsPerCall * 1000) / (performance.now() - t));
    await new Promise((r) => setImmediate(r));
  }
  rates.sort((a, b) => a - b);
  return rates[rates.length >> 1]!;
}

/**
 * Bytes per item held by `make(n)`: V8 heap plus ArrayBuffer backing stores (typed arrays live
 * outside the heap). Needs node --expose-gc.
 */
export async function heapBytesPerItem(make: (n: number) => unknown, n: number): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('heapBytesPerItem needs node --expose-gc (pnpm bench sets it)');
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
    }
  };
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  await settle();
  const before = used();
  const held = make(n);
  await settle();
  const after = used();
  if (held === undefined) throw new Error('make(n) must return what it built so it stays alive');
  return (after - before) / n;
}

/**
 * Operations per second of an async `fn` awaited in sequence: median of `samples` runs of
 * about `sampleMs` each, after one warm-up run.
 */
export async function asyncOpsPerSec(
  fn: () => Promise<unknown>,
  { opsPerCall = 1, samples = 7, sampleMs = 150 } = {},
): Promise<number> {
  const rates: number[] = [];
  for (let s = -1; s < samples; s++) {
    let calls = 0;
    const t = performance.now();
    let dt = 0;
    while (dt < sampleMs) {
      for (let i = 0; i < 256; i++) await fn();
      calls += 256;
      dt = performance.now() - t;
    }
    if (s >= 0) rates.push((calls * opsPerCall * 1000) / dt);
  }
  rates.sort((a, b) => a - b);
  return rates[rates.length >> 1]!;
}

/** Keeps the best of repeated measurements of each name (the highest, or the lowest for costs). */
export function bestOf(ms: Measurement[], higherIsBetter = true): Measurement[] {
  const byName = new Map<string, Measurement>();
  for (const m of ms) {
    const kept = byName.get(m.name);
    if (!kept || (higherIsBetter ? m.value > kept.value : m.value < kept.value))
      byName.set(m.name, m);
  }
  return [...byName.values()];
}
