import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rearm } from '../src/index.js';
import { ModelStore } from './fixtures/model-store.js';

// A model one-shot-watch store with random change schedules, delayed events, disconnects,
// expirations and reads served by a lagging replica; the scheduler decides when each network leg and each event arrives.

type Op =
  | { kind: 'set'; members: string[] }
  | { kind: 'disconnect' }
  | { kind: 'reconnect' }
  | { kind: 'expire' }
  | { kind: 'lag' };
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .subarray(['a', 'b', 'c', 'd', 'e'])
      .map((members) => ({ kind: 'set' as const, members })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'disconnect' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reconnect' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'expire' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'lag' as const }) },
);

describe('rearm against a model store (property)', () => {
  it('converges to the store, versions only increase, one read at a time, reads bounded by events', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(op, { maxLength: 25 }), async (s, ops) => {
        const store = new ModelStore(
          () => s.schedule(Promise.resolve()),
          (fire) => void s.schedule(Promise.resolve()).then(fire),
        );
        const view = rearm(store.source(), { retry: { minDelayMs: 1, maxDelayMs: 2 } });
        const published: number[] = [];
        view.subscribe((_v, version) => published.push(version));
        try {
          const tasks = ops.map((o) =>
            s.schedule(Promise.resolve()).then(() => {
              if (o.kind === 'set') store.set(o.members);
              else if (o.kind === 'lag') store.lagNext = true;
              else store[o.kind]();
            }),
          );
          await s.waitFor(Promise.all(tasks));
          store.reconnect(); // the source can again: the view must catch up
          for (let i = 0; ; i++) {
            await new Promise((r) => setTimeout(r, 3));
            await s.waitAll();
            if (
              view.state === 'synced' &&
              view.current?.version === store.version &&
              store.inFlight === 0
            )
              break;
            if (i === 500)
              throw new Error(
                `never converged: view ${view.current?.version} (${view.state}), store ${store.version}`,
              );
          }
          expect(view.current!.value).toEqual(store.value);
          for (let i = 1; i < published.length; i++)
            expect(published[i]!).toBeGreaterThan(published[i - 1]!);
          expect(store.maxInFlight).toBe(1);
          const st = view.stats();
          expect(st.reads).toBeLessThanOrEqual(st.events + st.errors + st.resyncs + 1);
        } finally {
          view.close();
        }
      }),
    );
  });
});
