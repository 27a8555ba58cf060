// Issue 13, finding 6: each test failed on the registry before its fix (seen, and said how).
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { Topic } from '../src/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapAfterGc = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const thenThrows = () => ({
  // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
  then() {
    throw new Error('then() throws');
  },
});

describe('a listener returning a thenable whose then() throws', () => {
  it('does not throw to the publisher, costs no other subscriber the value, and leaves the bad one free', () => {
    // Before the fix publish() threw 'then() throws', the second subscriber got nothing and
    // the bad subscriber stayed busy, keeping version 2 pending forever.
    const errors: unknown[] = [];
    const t = new Topic<number>({ replay: false, onError: (e) => errors.push(e) });
    const bad = t.subscribe(thenThrows);
    const got: number[] = [];
    t.subscribe((v) => got.push(v));
    expect(() => t.publish(1)).not.toThrow();
    expect(got).toEqual([1]);
    t.publish(2);
    expect(got).toEqual([1, 2]);
    expect(bad.version).toBe(2);
    expect(bad.pending).toBe(0);
    expect(bad.errors).toBe(2);
    expect(errors.map(String)).toEqual(['Error: then() throws', 'Error: then() throws']);
  });
});

describe("a 'drop-oldest' queue behind a subscriber that never finishes", () => {
  it('does not keep every published version (1M publishes, pending 2)', () => {
    // Before the fix the kept arrays grew by one slot per publish (about +16 MB here).
    const t = new Topic<number>({ replay: false });
    const sub = t.subscribe(() => new Promise(() => {}), {
      delivery: { queue: 2, overflow: 'drop-oldest' },
    });
    t.publish(0);
    const before = heapAfterGc();
    for (let i = 1; i <= 1_000_000; i++) t.publish(i);
    const grown = heapAfterGc() - before;
    expect(sub.pending).toBe(2);
    expect(sub.dropped).toBe(999_998);
    expect(grown).toBeLessThan(4 * 1024 * 1024);
  });
});

describe('a self-publishing chain started from the replay in subscribe()', () => {
  it('runs 20,000 levels without overflowing the stack, as the same chain from publish() does', () => {
    // Before the fix each level nested deliver() -> drain() -> deliver(): the stack overflowed
    // at about 3,700 levels, the RangeError was reported as the listener's error and the chain stopped.
    const errors: unknown[] = [];
    const t = new Topic<number>({ onError: (e) => errors.push(e) });
    t.publish(0);
    let calls = 0;
    t.subscribe((v) => {
      calls++;
      if (v < 20_000) t.publish(v + 1);
    });
    expect(errors).toEqual([]);
    expect(calls).toBe(20_001);
    expect(t.version).toBe(20_001);
  });
});
