// Incident 5 twice: rolling deploys in a registry; two subscribers (the RPC client and the
// backup-file writer) subscribe at the same moment. Naive: the incident's watch loop and
// subscriber slice. Guarded: rearm (arm-with-read) publishing through a Topic. The client is
// client.mjs's; the registry is in-process here (store.mjs) and served over TCP by server.mjs.
import { discoveryClient } from './client.mjs';
import { Registry } from './store.mjs';

const ROUNDS = 40;

async function run(guarded, progress) {
  const registry = new Registry();
  let pods = Array.from({ length: 8 }, (_, i) => `10.0.0.${i}:9000`);
  let next = 8;
  registry.set(pods);
  const client = await discoveryClient({ guarded, store: registry });
  await client.view?.ready;
  const { seen } = client;
  let staleRpc = 0;
  let staleBackup = 0;
  const start = Date.now();
  const series = [[0, 0]]; // [seconds, deploys the worse subscriber missed so far]
  for (let round = 0; round < ROUNDS; round++) {
    // A rolling deploy: 25% new pods appear, then as many old ones vanish, quickly.
    const fresh = [`10.0.1.${next++}:9000`, `10.0.1.${next++}:9000`];
    registry.set([...pods, ...fresh]);
    await new Promise((r) => setTimeout(r, 1));
    pods = [...pods.slice(2), ...fresh];
    registry.set(pods);
    await new Promise((r) => setTimeout(r, 40));
    const want = pods.join(',');
    if (seen['rpc-client']?.join(',') !== want) staleRpc++;
    if (seen['backup-file']?.join(',') !== want) staleBackup++;
    series.push([(Date.now() - start) / 1000, Math.max(staleRpc, staleBackup)]);
  }
  client.close();
  progress(
    `${guarded ? 'guarded' : 'naive'}: RPC client stale after ${staleRpc}/${ROUNDS} deploys, backup file after ${staleBackup}/${ROUNDS}`,
  );
  return { staleRpc, staleBackup, rpcEverUpdated: seen['rpc-client'] !== undefined, series };
}

export default {
  title: '5. Service discovery that silently stopped (lost subscriber, unwatched reads)',
  primitive: '@halfopen/rearm (arm-with-read) + @halfopen/registry Topic',
  metric: {
    label: 'deploys a subscriber missed, of 40',
    unit: '',
    of: (r) => Math.max(r.staleRpc, r.staleBackup),
    better: 'lower',
  },
  async run({ progress = () => {} } = {}) {
    const naive = await run(false, progress);
    const guarded = await run(true, progress);
    const worst = (r) => Math.max(r.staleRpc, r.staleBackup);
    return {
      naive: {
        suffered: worst(naive) > 0,
        summary: `a subscriber stale after ${worst(naive)}/${ROUNDS} deploys (RPC client ${naive.staleRpc}, backup file ${naive.staleBackup})${naive.rpcEverUpdated ? '' : '; the RPC client never received a list'}`,
        ...naive,
      },
      guarded: {
        survived: worst(guarded) === 0,
        summary: `both subscribers current after every one of ${ROUNDS} deploys`,
        ...guarded,
      },
    };
  },
};
