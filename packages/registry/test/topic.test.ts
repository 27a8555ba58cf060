import diagnostics from 'node:diagnostics_channel';
import { describe, expect, it, vi } from 'vitest';
import { type Delivery, QueueOverflowError, Topic, TopicClosedError } from '../src/index.js';

const tick = () => new Promise((r) => setImmediate(r));
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A subscriber that records every value and stays busy on the first until `gate` opens. */
function busyOnFirst(t: Topic<number>, delivery: Delivery) {
  const gate = deferred();
  const got: number[] = [];
  const sub = t.subscribe(
    async (v) => {
      got.push(v);
      if (v === 1) await gate.promise;
    },
    { delivery },
  );
  return { gate, got, sub };
}

describe('Topic basics', () => {
  it('publishes strictly increasing versions and keeps the current value', () => {
    const t = new Topic<string>();
    expect(t.current).toBeUndefined();
    expect(t.publish('a')).toBe(1);
    expect(t.publish('b')).toBe(2);
    expect(t.current).toEqual({ value: 'b', version: 2 });
  });

  it('delivers the current value inside subscribe (replay), then each newer version', () => {
    const t = new Topic<string>();
    t.publish('a');
    const got: string[] = [];
    const sub = t.subscribe((v, version) => got.push(`${v}@${version}`));
    expect(got).toEqual(['a@1']);
    t.publish('b');
    expect(got).toEqual(['a@1', 'b@2']);
    expect(sub.version).toBe(2);
  });

  it('with replay off, a late subscriber gets only newer versions', () => {
    const t = new Topic<number>({ replay: false });
    t.publish(1);
    const got: number[] = [];
    t.subscribe((v) => got.push(v));
    t.publish(2);
    expect(got).toEqual([2]);
  });

  it('counts subscriptions exactly, and unsubscribe is idempotent', () => {
    const t = new Topic<number>();
    const a = t.subscribe(() => {});
    const b = t.subscribe(() => {});
    expect(t.size).toBe(2);
    a.unsubscribe();
    a.unsubscribe();
    expect(t.size).toBe(1);
    b[Symbol.dispose]();
    expect(t.size).toBe(0);
    expect(a.subscribed).toBe(false);
  });
});

describe('changes made during a publish', () => {
  it('an unsubscribe from inside a listener takes effect at once, even for the same publish', () => {
    const t = new Topic<number>();
    const got: string[] = [];
    let b: { unsubscribe(): void } | undefined;
    t.subscribe((v) => {
      got.push(`a${v}`);
      b?.unsubscribe();
    });
    b = t.subscribe((v) => got.push(`b${v}`), {});
    got.length = 0;
    t.publish(1);
    expect(got).toEqual(['a1']);
  });

  it('a publish from inside a listener reaches everyone after the current one, in order', () => {
    const t = new Topic<number>({ replay: false });
    const got: string[] = [];
    t.subscribe((v) => {
      got.push(`a${v}`);
      if (v === 1) t.publish(2);
    });
    t.subscribe((v) => got.push(`b${v}`));
    t.publish(1);
    expect(got).toEqual(['a1', 'b1', 'a2', 'b2']);
  });

  it('a subscribe from inside a listener gets the current value and nothing older', () => {
    const t = new Topic<number>();
    const late: number[] = [];
    t.subscribe((v) => {
      if (v === 1) {
        t.publish(2);
        t.subscribe((x) => late.push(x));
      }
    });
    t.publish(1);
    t.publish(3);
    expect(late).toEqual([2, 3]);
  });
});

describe('isolation', () => {
  it('a throwing listener is reported and the others still receive', () => {
    const errors: unknown[] = [];
    const published: unknown[] = [];
    const onMsg = (m: unknown) => published.push(m);
    diagnostics.subscribe('halfopen:registry:error', onMsg);
    try {
      const t = new Topic<number>({ name: 'ep', onError: (e) => errors.push(e) });
      const got: number[] = [];
      const bad = t.subscribe(() => {
        throw new Error('boom');
      });
      t.subscribe((v) => got.push(v));
      t.publish(1);
      t.publish(2);
      expect(got).toEqual([1, 2]);
      expect(errors).toHaveLength(2);
      expect(bad.errors).toBe(2);
      expect(bad.subscribed).toBe(true);
      expect(published[0]).toMatchObject({ topic: 'ep', subscription: bad });
    } finally {
      diagnostics.unsubscribe('halfopen:registry:error', onMsg);
    }
  });

  it('a rejecting async listener is reported and keeps receiving', async () => {
    const errors: unknown[] = [];
    const t = new Topic<number>({ onError: (e) => errors.push(e) });
    const got: number[] = [];
    t.subscribe(async (v) => {
      got.push(v);
      throw new Error(`no ${v}`);
    });
    t.publish(1);
    await tick();
    t.publish(2);
    await tick();
    expect(got).toEqual([1, 2]);
    expect(errors.map(String)).toEqual(['Error: no 1', 'Error: no 2']);
  });

  it('an onError that throws becomes a process warning, not a crash', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const t = new Topic<number>({
        onError: () => {
          throw new Error('worse');
        },
      });
      t.subscribe(() => {
        throw new Error('bad');
      });
      expect(() => t.publish(1)).not.toThrow();
      expect(warn).toHaveBeenCalledWith(
        expect.stringMatching(/onError of topic .* threw/),
        'HalfopenRegistryWarning',
      );
    } finally {
      warn.mockRestore();
    }
  });
});

describe('async listeners and delivery modes', () => {
  it("'unbounded' awaits an async listener before the next delivery and keeps every version", async () => {
    const t = new Topic<number>({ replay: false });
    const gate = deferred();
    const got: number[] = [];
    let running = 0;
    t.subscribe(async (v) => {
      expect(++running).toBe(1);
      got.push(v);
      if (v === 1) await gate.promise;
      running--;
    });
    t.publish(1);
    t.publish(2);
    t.publish(3);
    expect(got).toEqual([1]);
    gate.resolve();
    await tick();
    expect(got).toEqual([1, 2, 3]);
  });

  it("'latest' skips to the newest version while the listener is busy", async () => {
    const t = new Topic<number>({ replay: false });
    const { gate, got, sub } = busyOnFirst(t, 'latest');
    for (let i = 1; i <= 100; i++) t.publish(i);
    expect(sub.pending).toBe(1);
    gate.resolve();
    await tick();
    expect(got).toEqual([1, 100]);
  });

  it("a queue with 'drop-oldest' keeps the newest n and counts the drops", async () => {
    const t = new Topic<number>({ replay: false });
    const { gate, got, sub } = busyOnFirst(t, { queue: 2, overflow: 'drop-oldest' });
    for (let i = 1; i <= 5; i++) t.publish(i);
    expect(sub.dropped).toBe(2);
    gate.resolve();
    await tick();
    expect(got).toEqual([1, 4, 5]);
  });

  it("a queue with 'error' reports QueueOverflowError and unsubscribes the laggard", () => {
    const errors: unknown[] = [];
    const t = new Topic<number>({ replay: false, name: 'eps', onError: (e) => errors.push(e) });
    const sub = t.subscribe(() => new Promise(() => {}), {
      delivery: { queue: 1, overflow: 'error' },
    });
    t.publish(1);
    t.publish(2);
    t.publish(3);
    expect(sub.subscribed).toBe(false);
    expect(t.size).toBe(0);
    expect(errors[0]).toBeInstanceOf(QueueOverflowError);
    expect(errors[0]).toMatchObject({ code: 'HALFOPEN_ERR_QUEUE_OVERFLOW', limit: 1 });
    expect(String(errors[0])).toMatch(/topic eps fell more than 1 versions behind/);
  });

  it('lagging() names a subscriber stuck on a delivery', () => {
    let now = 0;
    const t = new Topic<number>({ replay: false, now: () => now });
    const stuck = t.subscribe(() => new Promise(() => {}), {
      label: 'backup-file',
      delivery: 'latest',
    });
    t.subscribe(() => {}, { label: 'client' });
    t.publish(1);
    now = 5000;
    t.publish(2);
    expect(t.lagging(1000).map((s) => s.label)).toEqual(['backup-file']);
    expect(stuck.behindMs).toBe(5000);
    expect(t.lagging(10_000)).toEqual([]);
  });
});

describe('cancellation and closing', () => {
  it('an abort signal unsubscribes; an aborted one never subscribes', () => {
    const t = new Topic<number>();
    t.publish(1);
    const ac = new AbortController();
    const got: number[] = [];
    t.subscribe((v) => got.push(v), { signal: ac.signal });
    ac.abort();
    t.publish(2);
    expect(got).toEqual([1]);
    expect(t.size).toBe(0);
    const dead = t.subscribe((v) => got.push(v), { signal: AbortSignal.abort() });
    expect(dead.subscribed).toBe(false);
    expect(t.size).toBe(0);
    dead.unsubscribe();
    expect(t.size).toBe(0);
    expect(got).toEqual([1]);
  });

  it('close() unsubscribes everyone; publish and subscribe then throw TopicClosedError', () => {
    const t = new Topic<number>({ name: 'members' });
    const a = t.subscribe(() => {});
    t.close();
    expect(a.subscribed).toBe(false);
    expect(t.size).toBe(0);
    expect(() => t.publish(1)).toThrow(TopicClosedError);
    expect(() => t.subscribe(() => {})).toThrow(
      /HALFOPEN_ERR_TOPIC_CLOSED: topic members is closed/,
    );
  });
});

describe('validation', () => {
  it.each([
    [{ replay: 'yes' }, /options\.replay must be a boolean/],
    [{ onError: 1 }, /options\.onError must be a function/],
    [{ name: 5 }, /options\.name must be a string/],
  ])('new Topic(%o) throws naming the option', (bad, msg) => {
    expect(() => new Topic(bad as never)).toThrow(msg);
  });

  it.each([
    [{ delivery: 'fast' }, TypeError, /options\.delivery must be/],
    [
      { delivery: { queue: 0, overflow: 'error' } },
      RangeError,
      /options\.delivery\.queue must be an integer within 1\.\.\d+, got 0/,
    ],
    [{ delivery: { queue: 2, overflow: 'block' } }, TypeError, /options\.delivery\.overflow/],
    [{ signal: {} }, TypeError, /options\.signal must be an AbortSignal/],
  ])('subscribe(fn, %o) throws naming the option', (bad, Type, msg) => {
    const t = new Topic<number>();
    expect(() => t.subscribe(() => {}, bad as never)).toThrow(Type);
    expect(() => t.subscribe(() => {}, bad as never)).toThrow(msg);
    expect(t.size).toBe(0);
  });
});

describe('public surface', () => {
  it('a subscription exposes its figures and unsubscribe, never its links, counters or kept versions', () => {
    const t = new Topic<number>();
    const s = t.subscribe(() => {});
    expect(Object.getOwnPropertyNames(s)).toEqual([]);
    for (const internal of [
      'next',
      'prev',
      'busy',
      'kept',
      'live',
      'since',
      'listener',
      'keep',
      'take',
    ])
      expect(internal in s).toBe(false);
    expect(Object.getOwnPropertyNames(t)).toEqual(['name']);
    expect(s).toMatchObject({ subscribed: true, version: 0, pending: 0, delivered: 0, errors: 0 });
  });

  it("delivery 'sync' was renamed 'unbounded': the old name is a TypeError saying so", () => {
    const t = new Topic<number>();
    expect(() => t.subscribe(() => {}, { delivery: 'sync' as never })).toThrow(
      /options\.delivery 'sync' was renamed 'unbounded'/,
    );
    expect(t.size).toBe(0);
  });

  it.each([
    [() => new Topic({ replai: true } as never), /options\.replai is not an option/],
    [
      () => new Topic<number>().subscribe(() => {}, { lable: 'x' } as never),
      /options\.lable is not an option; known: signal, delivery, label/,
    ],
    [
      () =>
        new Topic<number>().subscribe(() => {}, {
          delivery: { queue: 2, overflow: 'error', size: 1 },
        } as never),
      /options\.delivery\.size is not an option/,
    ],
  ])('an unknown option key is a TypeError naming it (%#)', (make, msg) => {
    expect(make).toThrow(TypeError);
    expect(make).toThrow(msg);
  });
});
