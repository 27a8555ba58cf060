// Incident 5's discovery client: two subscribers (the RPC client's endpoint list and the
// backup-file writer) subscribe at the same moment to endpoint updates from a registry with
// one-shot watches. Naive: the incident's code (a subscriber list appended to across an await,
// and a watch loop that reads without a watch and re-arms afterwards). Guarded: rearm (every
// read arms the next watch; a lost connection re-reads) publishing through a Topic.
//
// Standalone: `node examples/5-lost-subscriber/client.mjs [--guarded] [--registry 7105]` follows
// `node examples/5-lost-subscriber/server.mjs` and prints every 2 s, for each subscriber, whether
// its list has differed from the registry's for more than 500 ms. Restart the server to see what
// a lost connection does.
import { rearm } from '@halfopen/rearm';
import { flag, isMain, option, statusEvery } from '../cli.mjs';
import { NaiveTopic, naiveWatchLoop } from './naive.mjs';
import { registryConnection } from './server.mjs';

/** Subscribes `rpc-client` and `backup-file` concurrently; `seen` holds the last list each got. */
export async function discoveryClient({ guarded, store }) {
  const seen = { 'rpc-client': undefined, 'backup-file': undefined };
  const names = Object.keys(seen);
  if (guarded) {
    const view = rearm(store.source(), { retry: { minDelayMs: 5, maxDelayMs: 500 } });
    // Both subscribe at once; a Topic registers and snapshots in one step.
    await Promise.all(
      names.map(async (label) =>
        view.subscribe((list) => (seen[label] = list), { label, delivery: 'latest' }),
      ),
    );
    return { seen, view, close: () => view.close() };
  }
  const topic = new NaiveTopic();
  await Promise.all(names.map((label) => topic.subscribe((list) => (seen[label] = list))));
  void naiveWatchLoop(store, (list) => topic.publish(list));
  return { seen, close: () => {} };
}

/** A OneShotWatchSource-maker over TCP that reconnects when its connection is gone. */
function reconnecting(port) {
  let conn;
  const current = () => {
    if (!conn || conn.closed) conn = registryConnection(port);
    return conn;
  };
  return {
    readUnwatched: () => current().readUnwatched(),
    arm: () => current().arm(),
    source: () => ({ compare: (a, b) => a - b, read: () => current().source().read() }),
  };
}

if (isMain(import.meta.url)) {
  const guarded = flag('guarded');
  const port = option('registry', 7105);
  // The naive loop uses one connection for good, as the incident's did.
  const store = guarded ? reconnecting(port) : registryConnection(port);
  const client = await discoveryClient({ guarded, store });
  console.log(
    `discovery client (${guarded ? 'guarded: rearm + Topic' : 'naive'}) following the registry on 127.0.0.1:${port}`,
  );
  // Every 100 ms, compare each subscriber's list with the registry's; a subscriber is STALE once
  // it has differed for 500 ms (a correct client catches up within milliseconds of a change).
  const staleSince = {};
  let truth;
  let conn;
  setInterval(async () => {
    if (!conn || conn.closed) conn = registryConnection(port);
    truth = await conn.readUnwatched().catch(() => undefined);
    const want = truth?.value.join(',');
    for (const [label, list] of Object.entries(client.seen)) {
      if (want !== undefined && list?.join(',') === want) delete staleSince[label];
      else staleSince[label] ??= Date.now();
    }
  }, 100).unref();
  statusEvery(2000, () => {
    if (!truth) return 'registry unreachable';
    return Object.entries(client.seen)
      .map(([label, list]) => {
        const since = staleSince[label];
        if (since === undefined || Date.now() - since < 500) return `${label}: current`;
        const want = new Set(truth.value);
        const dead = (list ?? []).filter((e) => !want.has(e)).length;
        const age = `${((Date.now() - since) / 1000).toFixed(1)} s`;
        return list
          ? `${label}: STALE for ${age} (${dead} dead endpoints)`
          : `${label}: never received a list (${age})`;
      })
      .join('; ');
  });
  setInterval(() => {}, 1 << 30); // keep running until Ctrl-C
}
