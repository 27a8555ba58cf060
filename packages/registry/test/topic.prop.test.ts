import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Delivery, Topic } from '../src/index.js';
import { NaiveTopic } from './fixtures/naive-topic.js';

// Random interleavings (fc.scheduler) of subscribe, unsubscribe and publish, with sync and
// async listeners that themselves publish, subscribe and unsubscribe, some of which throw.
// After everything settles, the guarantees in the README are checked for every subscriber.

interface TopicLike {
  readonly version: number;
  readonly size: number;
  publish(v: number): number;
  subscribe(
    fn: (v: number, version: number) => unknown,
    o?: { delivery?: Delivery },
  ): { unsubscribe(): void } | Promise<{ unsubscribe(): void }>;
}

interface SubSpec {
  delivery: 'unbounded' | 'latest';
  async: boolean;
  throws: boolean;
  unsubscribe: boolean;
  reentrant: 'none' | 'publish' | 'subscribe' | 'unsubscribe-self';
}

interface Record {
  spec: SubSpec;
  since: number;
  got: number[];
  unsubscribedAt: number; // -1 while subscribed
  violations: string[];
}

const subSpec = (reentrant: boolean) =>
  fc.record({
    delivery: reentrant
      ? fc.constantFrom<'unbounded' | 'latest'>('unbounded', 'latest')
      : fc.constant<'unbounded'>('unbounded'),
    async: fc.boolean(),
    throws: fc.boolean(),
    unsubscribe: fc.boolean(),
    reentrant: reentrant
      ? fc.constantFrom<SubSpec['reentrant']>('none', 'publish', 'subscribe', 'unsubscribe-self')
      : fc.constant<SubSpec['reentrant']>('none'),
  });

function registryProperty(
  make: (s: fc.Scheduler) => TopicLike,
  { reentrant = true, replay = true } = {},
) {
  return fc.asyncProperty(
    fc.scheduler(),
    fc.array(subSpec(reentrant), { minLength: 2, maxLength: 5 }),
    fc.integer({ min: 1, max: 6 }),
    async (s, specs, publishes) => {
      const topic = make(s);
      const records: Record[] = [];
      const subscribe = async (spec: SubSpec, nested: boolean): Promise<void> => {
        const rec: Record = {
          spec,
          since: topic.version,
          got: [],
          unsubscribedAt: -1,
          violations: [],
        };
        records.push(rec);
        let handle: { unsubscribe(): void } | undefined;
        let reentered = false;
        const reenter = () => {
          if (reentered || nested) return;
          reentered = true;
          if (spec.reentrant === 'publish') topic.publish(-1);
          if (spec.reentrant === 'subscribe')
            void subscribe({ ...spec, reentrant: 'none', unsubscribe: false }, true);
          if (spec.reentrant === 'unsubscribe-self' && handle) {
            handle.unsubscribe();
            rec.unsubscribedAt = rec.got.length;
          }
        };
        let inFlight = 0; // deliveries to one subscriber never overlap
        const onValue = (_v: number, version: number) => {
          if (rec.unsubscribedAt >= 0)
            rec.violations.push(`delivery of ${version} after unsubscribe`);
          if (inFlight > 0) rec.violations.push(`delivery of ${version} while another was running`);
          rec.got.push(version);
        };
        const listener = spec.async
          ? async (v: number, version: number) => {
              onValue(v, version);
              inFlight++;
              try {
                await s.schedule(Promise.resolve());
                reenter();
                if (spec.throws) throw new Error('listener failed');
              } finally {
                inFlight--;
              }
            }
          : (v: number, version: number) => {
              onValue(v, version);
              inFlight++;
              try {
                reenter();
                if (spec.throws) throw new Error('listener failed');
              } finally {
                inFlight--;
              }
            };
        handle = await topic.subscribe(listener, { delivery: spec.delivery });
        if (spec.unsubscribe && !nested) {
          await s.schedule(Promise.resolve());
          if (rec.unsubscribedAt < 0) {
            handle.unsubscribe();
            rec.unsubscribedAt = rec.got.length;
          }
        }
      };
      const tasks: Promise<unknown>[] = [];
      for (const spec of specs)
        tasks.push(s.schedule(Promise.resolve()).then(() => subscribe(spec, false)));
      for (let i = 0; i < publishes; i++)
        tasks.push(s.schedule(Promise.resolve()).then(() => topic.publish(i)));
      await s.waitFor(Promise.all(tasks));
      // Quiescence: run every scheduled step (listeners schedule more as they go) until none is left.
      for (let i = 0; ; i++) {
        await new Promise((r) => setImmediate(r));
        if (s.count() === 0) break;
        if (i === 1000) throw new Error('the interleaving never settled');
        await s.waitAll();
      }

      const final = topic.version;
      const live = records.filter((r) => r.unsubscribedAt < 0);
      if (topic.size !== live.length)
        throw new Error(`subscriber lost: size ${topic.size}, expected ${live.length}`);
      for (const r of records) {
        expect(r.violations).toEqual([]);
        for (let i = 1; i < r.got.length; i++) {
          if (r.got[i]! <= r.got[i - 1]!)
            throw new Error(`versions not increasing: ${r.got.join(',')}`);
        }
        if (replay && r.since > 0 && r.got[0] !== r.since) {
          throw new Error(
            `replay: first delivery ${r.got[0]}, expected the current version ${r.since}`,
          );
        }
        if (r.unsubscribedAt >= 0) continue;
        if (r.spec.delivery === 'unbounded') {
          const expected: number[] = [];
          for (let v = replay && r.since > 0 ? r.since : r.since + 1; v <= final; v++)
            expected.push(v);
          if (r.got.join(',') !== expected.join(',')) {
            throw new Error(`subscriber lost versions: got [${r.got}], expected [${expected}]`);
          }
        } else if (final > r.since && r.got[r.got.length - 1] !== final) {
          throw new Error(`latest subscriber ended at ${r.got.at(-1)}, expected ${final}`);
        }
      }
    },
  );
}

describe('Topic under random interleavings (property)', () => {
  it('never loses, duplicates or reorders, and isolates throwing listeners', async () => {
    await fc.assert(registryProperty(() => new Topic<number>({ onError: () => {} })));
  });

  it('holds without replay too', async () => {
    await fc.assert(
      registryProperty(() => new Topic<number>({ replay: false, onError: () => {} }), {
        replay: false,
      }),
    );
  });

  it('the same property catches the incident: a registry that awaits between reading and writing its list', async () => {
    const result = await fc.check(
      registryProperty((s) => new NaiveTopic<number>(() => s.schedule(Promise.resolve())), {
        reentrant: false,
        replay: false,
      }),
      { numRuns: 200 },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/subscriber lost/);
  });
});
