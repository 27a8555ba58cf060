import { EventEmitter } from 'node:events';
import { CLOSE, OPEN, OWNER, RECONCILE } from '../src/scripts.js';

// A Redis in memory for the unit and property tiers: the four scripts' semantics (the real Lua
// runs in the integration and fault tiers), pub/sub, and a hand on every delivery. Scripts run
// atomically when `eval` is called (the command reached Redis); replies and pub/sub messages
// reach each client later, in order per connection, when the test delivers them (`manual`) or
// on the next microtask (auto).

type Item = () => void;

export class FakeRedisServer {
  readonly hashes = new Map<string, Record<string, string>>();
  /** Redis TIME, microseconds. */
  timeUs = 1_000_000;
  manual = false;
  readonly clients = new Set<FakeClient>();

  /** Forgets everything (a restart of a Redis that keeps nothing). */
  flush(): void {
    this.hashes.clear();
  }

  run(script: string, keys: string[], argv: string[]): unknown {
    this.timeUs += 1;
    if (script === OPEN) {
      const [instance = '', since = '', deadline = '', channel = '', prefix = '', gen = ''] = argv;
      const nowMs = Math.floor(this.timeUs / 1000);
      if (nowMs > Number(deadline)) return ['-1', String(nowMs), ''];
      const h = this.hashes.get(keys[0]!) ?? {};
      if (gen !== '' && h.instance && h.gen && Number(gen) < Number(h.gen))
        return ['-2', h.epoch, h.instance, h.gen];
      const epoch = String(Math.max(Number(h.epoch ?? 0) + 1, this.timeUs));
      const prev = [h.epoch ?? '', h.instance ?? ''];
      this.hashes.set(keys[0]!, { epoch, instance, since, gen });
      this.publish(channel, `${prefix}${epoch}}`);
      return [epoch, ...prev];
    }
    if (script === CLOSE) {
      const h = this.hashes.get(keys[0]!);
      if (h && h.epoch === argv[1] && h.instance === argv[0]) {
        delete h.instance;
        delete h.since;
        delete h.gen;
        return 1;
      }
      return 0;
    }
    if (script === OWNER) {
      const h = this.hashes.get(keys[0]!) ?? {};
      return [h.epoch ?? null, h.instance ?? null, h.since ?? null];
    }
    if (script === RECONCILE) {
      const [instance, channel, since] = argv as [string, string, string];
      return keys.map((key, i) => {
        const mine = argv[3 + 2 * i]!;
        const h = this.hashes.get(key) ?? {};
        const stored = Number(h.epoch ?? 0);
        if (stored > Number(mine)) return ['lost', h.epoch, h.instance ?? ''];
        if (stored === Number(mine) && h.instance === instance) return ['kept', mine, instance];
        this.hashes.set(key, { ...h, epoch: mine, instance, since, gen: '' }); // HSET keeps other fields
        this.publish(channel, `${argv[4 + 2 * i]}${mine}}`);
        return ['claimed', mine, instance];
      });
    }
    throw new Error('ERR unknown script');
  }

  publish(channel: string, payload: unknown): void {
    for (const c of this.clients)
      if (c.channels.has(channel)) c.push(() => c.emit('message', channel, payload));
  }

  /** Delivers everything queued, in a fair round over the clients, until nothing is left. */
  async drain(): Promise<void> {
    for (let more = true; more; ) {
      more = false;
      for (const c of this.clients) if (c.deliver()) more = true;
      await new Promise((r) => setImmediate(r));
    }
  }
}

export class FakeClient extends EventEmitter {
  status = 'ready';
  readonly channels = new Set<string>();
  readonly queue: Item[] = [];
  /** When true, commands are accepted but never answered (a black-holed Redis). */
  silent = false;
  disconnected = false;

  constructor(readonly server: FakeRedisServer) {
    super();
    server.clients.add(this);
  }

  push(item: Item): void {
    if (this.status !== 'ready') return; // a closed connection loses what was in flight
    if (this.server.manual) this.queue.push(item);
    else queueMicrotask(item);
  }

  /** Delivers the next reply or message queued for this client; false when there was none. */
  deliver(): boolean {
    const item = this.queue.shift();
    item?.();
    return item !== undefined;
  }

  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown> {
    if (this.status !== 'ready') return Promise.reject(new Error('Connection is closed.'));
    const keys = args.slice(0, numKeys).map(String);
    const argv = args.slice(numKeys).map(String);
    return new Promise((resolve, reject) => {
      if (this.silent) return;
      let reply: unknown;
      try {
        reply = this.server.run(script, keys, argv);
      } catch (error) {
        this.push(() => reject(error));
        return;
      }
      this.push(() => resolve(reply));
    });
  }

  subscribe(channel: string): Promise<unknown> {
    if (this.status !== 'ready') return Promise.reject(new Error('Connection is closed.'));
    this.channels.add(channel);
    return Promise.resolve(1);
  }

  unsubscribe(channel: string): Promise<unknown> {
    this.channels.delete(channel);
    return Promise.resolve(0);
  }

  duplicate(): FakeClient {
    return new FakeClient(this.server);
  }

  disconnect(): void {
    this.disconnected = true;
    this.down();
    this.server.clients.delete(this);
  }

  /** The connection drops: queued replies and messages are lost, subscriptions too. */
  down(): void {
    if (this.status !== 'ready') return;
    this.status = 'reconnecting';
    this.queue.length = 0;
    this.channels.clear();
    this.emit('close');
  }

  /** Reconnected. */
  up(): void {
    if (this.disconnected || this.status === 'ready') return;
    this.status = 'ready';
    this.emit('ready');
  }
}
