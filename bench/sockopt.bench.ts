// @halfopen/sockopt: what the kernel's view of a socket costs per call, on loopback.
import net from 'node:net';
import { getSockopts, sendQueueBytes, setSockopts, tcpInfo } from '@halfopen/sockopt';
import { type Measurement, opsPerSec as measure, type Scenario } from './harness.js';

// Each call warmed up with 50,000 plain calls first: without it the first measurement in a
// process runs 5-10x slower for its whole second (seen here), whichever call comes first.
async function opsPerSec(fn: () => void): Promise<number> {
  for (let i = 0; i < 50_000; i++) fn();
  return measure(fn);
}

/** One connected pair with some traffic, so TCP_INFO has real figures. */
async function withPair<T>(body: (client: net.Socket) => Promise<T>): Promise<T> {
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.resume();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  await new Promise((r) => client.write(Buffer.alloc(64 * 1024), r));
  try {
    return await body(client);
  } finally {
    client.destroy();
    await new Promise((r) => srv.close(r));
  }
}

let sink = 0;
let flip = false;

async function reads(): Promise<Measurement[]> {
  return withPair(async (socket) => {
    const handle = (socket as unknown as { _handle: { writeQueueSize: number } })._handle;
    const unit = 'calls/s';
    return [
      {
        name: 'tcpInfo (one getsockopt(TCP_INFO), 18 fields)',
        value: await opsPerSec(() => {
          sink += tcpInfo(socket)?.bytesAcked ?? 0;
        }),
        unit,
      },
      {
        name: 'getSockopts (five getsockopt calls)',
        value: await opsPerSec(() => {
          sink += getSockopts(socket).count;
        }),
        unit,
      },
      {
        name: 'sendQueueBytes (ioctl SIOCOUTQ)',
        value: await opsPerSec(() => {
          sink += sendQueueBytes(socket) ?? 0;
        }),
        unit,
      },
      {
        name: 'JS reads (bytesWritten, writableLength, writeQueueSize)',
        value: await opsPerSec(() => {
          sink += socket.bytesWritten + socket.writableLength + handle.writeQueueSize;
        }),
        unit,
      },
    ];
  });
}

async function sets(): Promise<Measurement[]> {
  return withPair(async (socket) => {
    const all = {
      keepAlive: true,
      idleMs: 15_000,
      intervalMs: 5_000,
      count: 3,
      userTimeoutMs: 30_000,
    };
    const unit = 'calls/s';
    return [
      {
        name: 'setSockopts (five set + five read back, one native call)',
        value: await opsPerSec(() => {
          sink += setSockopts(socket, all).count;
        }),
        unit,
      },
      {
        name: 'setSockopts + getSockopts',
        value: await opsPerSec(() => {
          sink += setSockopts(socket, all).count + getSockopts(socket).count;
        }),
        unit,
      },
      {
        name: 'socket.setKeepAlive(true, 15000 / 16000) (no read back)',
        // Alternating delays: Node skips the syscalls when asked for what it set last.
        value: await opsPerSec(() => {
          flip = !flip;
          socket.setKeepAlive(true, flip ? 15_000 : 16_000);
        }),
        unit,
      },
    ];
  });
}

const scenarios: Scenario[] = [
  {
    name: 'sockopt: tcpInfo per call vs reading five options',
    ours: 'tcpInfo (one getsockopt(TCP_INFO), 18 fields)',
    rival: 'getSockopts (five getsockopt calls)',
    higherIsBetter: true,
    target: 1,
    run: reads,
  },
  {
    name: 'sockopt: setSockopts (set and read back everything) vs setKeepAlive',
    ours: 'setSockopts (five set + five read back, one native call)',
    rival: 'socket.setKeepAlive(true, 15000 / 16000) (no read back)',
    higherIsBetter: true,
    // Ten syscalls against Node's four (libuv sets SO_KEEPALIVE, idle, interval 1 s, count 10):
    // at most 4x the cost of the call that sets less and reads back nothing.
    target: 0.25,
    run: sets,
  },
];
export default scenarios;
// Keeps the measured reads from being optimised away.
process.on('exit', () => {
  if (sink === -1) console.log(sink);
});
