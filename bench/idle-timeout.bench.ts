// @halfopen/idle-timeout against Node's own socket.setTimeout and against no guard at all.
import net from 'node:net';
import { guardServer, guardSocket, type SocketGuard } from '@halfopen/idle-timeout';
import { heapBytesPerItem, type Measurement, opsPerSec, type Scenario } from './harness.js';

const ALL_DEADLINES = {
  firstByteMs: 30_000,
  readIdleMs: 30_000,
  writeStallMs: 30_000,
  halfClosedMs: 30_000,
  maxAgeMs: 600_000,
  maxAgeJitter: 0.1,
};
type Variant = 'raw' | 'socket.setTimeout' | 'guardSocket';

async function echoServer(variant: Variant): Promise<{ port: number; close(): Promise<void> }> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    if (variant === 'socket.setTimeout') s.setTimeout(30_000, () => s.destroy());
    s.on('data', (d) => s.write(d));
  });
  const guard = variant === 'guardSocket' ? guardServer(server, ALL_DEADLINES) : undefined;
  // The figure is for write progress read from the kernel (TCP_INFO on the shared tick): say
  // so, or refuse to report it.
  const guards: SocketGuard[] = [];
  guard?.on('guard', (g) => guards.push(g));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((r, reject) => {
        const node = guards.filter((g) => !g.disposed && g.stats().progress !== 'kernel').length;
        guard?.dispose();
        server.close(() => r());
        if (node > 0)
          reject(new Error(`${node} guards measured Node's write progress, not the kernel's`));
      }),
  };
}

/** Round trips per second over `conns` connections, each ping-ponging 64 bytes for `ms`. */
async function echoRate(variant: Variant, conns: number, ms: number): Promise<number> {
  return (await echo(variant, conns, ms)).rate;
}

/**
 * CPU time (client and server, one process) per 1,000 round trips: on a machine shared with
 * other work, throughput follows the load and this is the steadier figure of what a guard adds.
 */
async function echoCpu(variant: Variant, conns: number, ms: number): Promise<number> {
  return (await echo(variant, conns, ms)).cpuMsPerThousand;
}

async function echo(
  variant: Variant,
  conns: number,
  ms: number,
): Promise<{ rate: number; cpuMsPerThousand: number }> {
  const server = await echoServer(variant);
  const msg = Buffer.alloc(64, 1);
  const sockets = await Promise.all(
    Array.from(
      { length: conns },
      () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect(server.port, '127.0.0.1', () => resolve(s));
          s.setNoDelay(true);
        }),
    ),
  );
  let trips = 0;
  let running = true;
  for (const s of sockets) {
    let got = 0;
    s.on('data', (d) => {
      got += d.length;
      while (got >= 64) {
        got -= 64;
        trips++;
        if (running) s.write(msg);
      }
    });
  }
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (const s of sockets) s.write(msg);
  await new Promise((r) => setTimeout(r, ms));
  running = false;
  const rate = (trips * 1000) / (performance.now() - start);
  const used = process.cpuUsage(cpu);
  for (const s of sockets) s.destroy();
  await server.close();
  return { rate, cpuMsPerThousand: (used.user + used.system) / trips };
}

/** Both ends of `n / 2` idle loopback connections. */
async function idleSockets(n: number) {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 1024, r));
  const port = (server.address() as net.AddressInfo).port;
  const clients: net.Socket[] = [];
  for (let i = 0; i < n / 2; i += 500) {
    const batch = await Promise.all(
      Array.from(
        { length: Math.min(500, n / 2 - i) },
        () =>
          new Promise<net.Socket>((r) => {
            const s = net.connect(port, '127.0.0.1', () => r(s));
          }),
      ),
    );
    clients.push(...batch);
  }
  while (accepted.length < n / 2) await new Promise((r) => setTimeout(r, 10));
  return {
    sockets: [...clients, ...accepted],
    close: () => {
      for (const s of [...clients, ...accepted]) s.destroy();
      server.close();
    },
  };
}

async function bytesPerSocket(variant: Variant, n: number): Promise<number> {
  const { sockets, close } = await idleSockets(n);
  const guards: SocketGuard[] = [];
  const bytes = await heapBytesPerItem(() => {
    for (const s of sockets) {
      if (variant === 'socket.setTimeout') s.setTimeout(30_000, onTimeout);
      else guards.push(guardSocket(s, ALL_DEADLINES));
    }
    return sockets;
  }, sockets.length);
  for (const g of guards) g.dispose();
  close();
  await new Promise((r) => setTimeout(r, 200));
  return bytes;
}
function onTimeout(this: net.Socket) {
  this.destroy();
}

/** CPU time (µs) this process spends over `ms` of wall time. */
async function cpuOver(ms: number): Promise<number> {
  const start = process.cpuUsage();
  await new Promise((r) => setTimeout(r, ms));
  const d = process.cpuUsage(start);
  return d.user + d.system;
}

/**
 * A guard's cost per socket per tick: its checks run inside the wheel's timer (private), so
 * this is the CPU time 2,000 guarded idle sockets add at a 5 ms resolution, over the same
 * sockets unguarded, divided by the checks made. Best of 3.
 */
async function perTickNs(): Promise<number> {
  const { sockets, close } = await idleSockets(2000);
  const RES = 5;
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const idle = await cpuOver(1000);
    const guards = sockets.map((s) => guardSocket(s, { ...ALL_DEADLINES, resolutionMs: RES }));
    const busy = await cpuOver(1000);
    for (const g of guards) g.dispose();
    best = Math.min(best, ((busy - idle) * 1000) / ((1000 / RES) * sockets.length));
  }
  close();
  return Math.max(best, 1);
}

/**
 * The cost of keeping deadlines current. socket.setTimeout refreshes its timer on every data
 * event (net calls socket._unrefTimer()); a guard does nothing per event and instead checks
 * each socket once per tick of the shared timer. Measured per operation, then reported as CPU
 * time per second for 10,000 sockets each receiving 100 data events/s, with the guard at
 * its default resolution for 30 s deadlines (1,000 ms).
 */
async function keepCurrentCost(): Promise<Measurement[]> {
  const { sockets, close } = await idleSockets(2);
  const [a] = sockets as [net.Socket, net.Socket];
  a.setTimeout(30_000, onTimeout);
  const refresh = (a as unknown as { _unrefTimer(): void })._unrefTimer.bind(a);
  const perEvent = await opsPerSec(refresh);
  a.setTimeout(0);
  close();
  const perCheckNs = await perTickNs();
  const SOCKETS = 10_000;
  const EVENTS_PER_SEC = 100;
  const TICKS_PER_SEC = 1;
  return [
    { name: 'socket.setTimeout refresh', value: 1e9 / perEvent, unit: 'ns per data event' },
    { name: 'guardSocket check', value: perCheckNs, unit: 'ns per socket per tick' },
    {
      name: 'socket.setTimeout',
      value: (SOCKETS * EVENTS_PER_SEC * 1e6) / perEvent,
      unit: 'µs CPU/s at 10k sockets x 100 events/s',
    },
    {
      name: 'guardSocket',
      value: (SOCKETS * TICKS_PER_SEC * perCheckNs) / 1000,
      unit: 'µs CPU/s at 10k sockets x 100 events/s',
    },
  ];
}

/** Best of `rounds` interleaved runs per variant, so drift on a 2-core machine hits all alike. */
async function interleaved(
  variants: Variant[],
  rounds: number,
  measure: (v: Variant) => Promise<number>,
  unit: string,
  best: 'max' | 'min',
) {
  const values = new Map<Variant, number[]>();
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) values.set(v, [...(values.get(v) ?? []), await measure(v)]);
  }
  return variants.map(
    (v): Measurement => ({
      name: v,
      value: best === 'max' ? Math.max(...values.get(v)!) : Math.min(...values.get(v)!),
      unit,
    }),
  );
}

const scenarios: Scenario[] = [
  {
    name: 'idle-timeout: echo throughput, 1,000 connections, all deadlines on, kernel write progress',
    ours: 'guardSocket',
    rival: 'raw',
    higherIsBetter: true,
    target: 0.95,
    run: () =>
      interleaved(
        ['raw', 'socket.setTimeout', 'guardSocket'],
        5,
        (v) => echoRate(v, 1000, 2000),
        'round trips/s',
        'max',
      ),
  },
  {
    name: 'idle-timeout: echo CPU per 1,000 round trips, 1,000 connections, kernel write progress',
    ours: 'guardSocket',
    rival: 'raw',
    higherIsBetter: false,
    target: 0.95,
    run: () =>
      interleaved(
        ['raw', 'guardSocket'],
        5,
        (v) => echoCpu(v, 1000, 2000),
        'ms CPU per 1,000 round trips',
        'min',
      ),
  },
  {
    name: 'idle-timeout: heap bytes per idle socket, 10,000 sockets',
    ours: 'guardSocket',
    rival: 'socket.setTimeout',
    higherIsBetter: false,
    target: 1,
    run: () =>
      interleaved(
        ['socket.setTimeout', 'guardSocket'],
        2,
        (v) => bytesPerSocket(v, 10_000),
        'bytes/socket',
        'min',
      ),
  },
  {
    name: 'idle-timeout: cost of keeping deadlines current (per data event vs per tick)',
    ours: 'guardSocket',
    rival: 'socket.setTimeout',
    higherIsBetter: false,
    target: 1,
    run: keepCurrentCost,
  },
];
export default scenarios;
