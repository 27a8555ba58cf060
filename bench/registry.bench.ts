// @halfopen/registry's Topic against eventemitter3 and node:events.
import { EventEmitter as NodeEmitter } from 'node:events';
import { Topic } from '@halfopen/registry';
import { EventEmitter as EE3 } from 'eventemitter3';
import { bestOf, type Measurement, opsPerSec, type Scenario } from './harness.js';

/** Read by nothing; written by every listener so the calls are not optimised away. */
export let sink = 0;
const listeners = (n: number) =>
  Array.from({ length: n }, () => (v: number) => {
    sink += v;
  });

async function publishRate(subscribers: number): Promise<Measurement[]> {
  const topic = new Topic<number>({ replay: false });
  const ee3 = new EE3();
  const node = new NodeEmitter();
  node.setMaxListeners(0);
  for (const fn of listeners(subscribers)) {
    topic.subscribe(fn);
    ee3.on('v', fn);
    node.on('v', fn);
  }
  const out: Measurement[] = [];
  for (let round = 0; round < 2; round++) {
    out.push({
      name: `Topic.publish`,
      value: await opsPerSec(() => topic.publish(1)),
      unit: 'publishes/s',
    });
    out.push({
      name: 'eventemitter3 emit',
      value: await opsPerSec(() => ee3.emit('v', 1)),
      unit: 'publishes/s',
    });
    out.push({
      name: 'node:events emit',
      value: await opsPerSec(() => node.emit('v', 1)),
      unit: 'publishes/s',
    });
  }
  return bestOf(out);
}

/** With 10,000 live subscribers: add one, remove one from the middle. */
async function churn(): Promise<Measurement[]> {
  const N = 10_000;
  const topic = new Topic<number>({ replay: false });
  const subs = listeners(N).map((fn) => topic.subscribe(fn));
  let i = 0;
  const topicRate = await opsPerSec(() => {
    const k = (i++ * 7919) % N;
    subs[k]!.unsubscribe();
    subs[k] = topic.subscribe(() => {});
  });
  const ee3 = new EE3();
  const fns = listeners(N);
  for (const fn of fns) ee3.on('v', fn);
  let j = 0;
  const ee3Rate = await opsPerSec(() => {
    const k = (j++ * 7919) % N;
    ee3.off('v', fns[k]);
    fns[k] = () => {};
    ee3.on('v', fns[k]!);
  });
  return [
    { name: 'Topic subscribe+unsubscribe', value: topicRate, unit: 'pairs/s' },
    { name: 'eventemitter3 on+off', value: ee3Rate, unit: 'pairs/s' },
  ];
}

/**
 * Heap growth over 1M publishes to a subscriber 1000x slower than the publisher: its
 * listener's promise settles only after 1,000 more publishes. Measured while the subscriber
 * is still behind, so what each keeps is alive.
 */
async function slowSubscriberMemory(): Promise<Measurement[]> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  const PUBLISHES = 1_000_000;
  const measure = async (
    subscribe: (slow: () => Promise<void>) => (v: number) => void,
  ): Promise<number> => {
    const waiting: Array<() => void> = [];
    const slow = () => new Promise<void>((r) => waiting.push(r));
    gc();
    const before = process.memoryUsage().heapUsed;
    const publish = subscribe(slow);
    for (let i = 0; i < PUBLISHES; i++) {
      publish(i);
      if (i % 1000 === 999) {
        waiting.shift()?.(); // the subscriber finishes one delivery per 1,000 publishes
        await new Promise((r) => setImmediate(r));
      }
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    for (const r of waiting.splice(0)) r();
    return grown;
  };
  const topicWith = (delivery: 'latest' | 'unbounded') => (slow: () => Promise<void>) => {
    const topic = new Topic<{ i: number }>({ replay: false });
    topic.subscribe(slow, { delivery });
    return (i: number) => topic.publish({ i });
  };
  const latest = await measure(topicWith('latest'));
  const unbounded = await measure(topicWith('unbounded'));
  const emitter = await measure((slow) => {
    const ee3 = new EE3();
    ee3.on('v', slow); // an emitter does not wait: every call is in flight at once
    return (i) => ee3.emit('v', { i });
  });
  return [
    {
      name: "Topic 'latest'",
      value: Math.max(latest, 1024),
      unit: 'heap bytes grown (floor 1 KiB)',
    },
    { name: "Topic 'unbounded' (keeps every version)", value: unbounded, unit: 'heap bytes grown' },
    { name: 'eventemitter3 + async listener', value: emitter, unit: 'heap bytes grown' },
  ];
}

const scenarios: Scenario[] = [1, 10, 100].map(
  (n): Scenario => ({
    name: `registry: publish to ${n} sync subscriber${n > 1 ? 's' : ''}`,
    ours: 'Topic.publish',
    rival: 'eventemitter3 emit',
    higherIsBetter: true,
    target: 0.8,
    run: () => publishRate(n),
  }),
);
scenarios.push(
  {
    name: 'registry: subscribe + unsubscribe churn with 10,000 live subscribers',
    ours: 'Topic subscribe+unsubscribe',
    rival: 'eventemitter3 on+off',
    higherIsBetter: true,
    target: 1,
    run: churn,
  },
  {
    name: "registry: a 'latest' subscriber 1000x slower than the publisher, 1M publishes",
    ours: "Topic 'latest'",
    rival: 'eventemitter3 + async listener',
    higherIsBetter: false,
    target: 10,
    run: slowSubscriberMemory,
  },
);
export default scenarios;
