// Where @halfopen/sockopt has no native part (macOS, Windows, an arch without a binary, a
// bundle that dropped it): keepalive says what it could not apply, in the report and once per
// process per setting on halfopen:keepalive:degraded, and strict refuses.
import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('@halfopen/sockopt', () => ({
  support: () => ({
    native: false,
    reason: 'no prebuilt binary for sunos-sparc',
    platform: 'sunos-sparc',
    sockopts: false,
    userTimeout: false,
    tcpInfo: false,
    sendQueue: false,
  }),
  setSockopts: () => {
    throw new Error('not reached: support() says no native part');
  },
}));

type Pkg = typeof import('../src/index.js');
let pkg: Pkg;
const cleanup: Array<() => unknown> = [];
beforeEach(async () => {
  vi.resetModules(); // a fresh process's worth of state: the probe and the once-per-setting set
  pkg = await import('../src/index.js');
});
afterEach(async () => {
  vi.restoreAllMocks();
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

const accepted: net.Socket[] = [];
async function connectedPair(): Promise<number> {
  const srv = net.createServer((s) => {
    accepted.push(s);
    s.resume();
    s.on('error', () => {});
    cleanup.push(() => s.destroy());
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise((r) => srv.close(r)));
  return (srv.address() as net.AddressInfo).port;
}
function degradedMessages(): unknown[] {
  const seen: unknown[] = [];
  const fn = (m: unknown) => seen.push(m);
  diagnostics.subscribe('halfopen:keepalive:degraded', fn);
  cleanup.push(() => diagnostics.unsubscribe('halfopen:keepalive:degraded', fn));
  return seen;
}
/** Makes this Node's setKeepAlive look like one that does (or does not) take the object form. */
function nodeKeepAlive(objectForm: boolean): Array<unknown[]> {
  const calls: Array<unknown[]> = [];
  vi.spyOn(net.Socket.prototype, 'setKeepAlive').mockImplementation(function (
    this: net.Socket,
    ...args: unknown[]
  ) {
    const o = args[0] as { interval?: unknown } | null;
    if (objectForm && o !== null && typeof o === 'object') void o.interval; // what Node 24.19+ does
    calls.push(args);
    return this;
  });
  return calls;
}

describe('keepalive without the native part', () => {
  it('with only the idle time settable, the report and one message per setting say what is missing', async () => {
    nodeKeepAlive(false);
    const seen = degradedMessages();
    const port = await connectedPair();
    const reports: import('../src/index.js').KeepAliveReport[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await pkg.connect({ port, host: '127.0.0.1', onReport: (r) => reports.push(r) });
      cleanup.push(() => s.destroy());
    }
    expect(reports[1]).toMatchObject({
      via: 'none',
      applied: undefined,
      detectionTimeMs: 15_000 + 10 * 1000,
    });
    expect(reports[1]!.unsupported.join('\n')).toMatch(
      /intervalMs, count: no native part \(no prebuilt binary for sunos-sparc\).*\nuserTimeoutMs: .*no API for TCP_USER_TIMEOUT/,
    );
    // Two connects, one message per setting.
    expect(seen.map((m) => (m as { setting: string }).setting).sort()).toEqual([
      'count',
      'intervalMs',
      'readBack',
      'userTimeoutMs',
    ]);
    expect(seen[0]).toMatchObject({ reason: expect.stringContaining('sunos-sparc') });
    expect(pkg.keepAliveSupport()).toEqual({
      interval: false,
      count: false,
      userTimeout: false,
      readBack: false,
      via: 'none',
      nativeError: 'no prebuilt binary for sunos-sparc',
    });
  });

  it('a Node whose setKeepAlive takes { enable, initialDelay, interval, count } is found by a probe and used', async () => {
    const calls = nodeKeepAlive(true);
    const port = await connectedPair();
    let report: import('../src/index.js').KeepAliveReport | undefined;
    const s = await pkg.connect({
      port,
      host: '127.0.0.1',
      keepAlive: { idleMs: 2000, intervalMs: 1000, count: 4 },
      userTimeoutMs: 0, // the system default: nothing missing
      onReport: (r) => (report = r),
    });
    cleanup.push(() => s.destroy());
    expect(report).toMatchObject({ via: 'node', unsupported: [], detectionTimeMs: 6000 });
    expect(calls.at(-1)).toEqual([{ enable: true, initialDelay: 2000, interval: 1000, count: 4 }]);
    expect(pkg.keepAliveSupport()).toMatchObject({
      interval: true,
      count: true,
      readBack: false,
      via: 'node',
    });
  });

  it('strict refuses what cannot be applied and closes the socket', async () => {
    nodeKeepAlive(true);
    const port = await connectedPair();
    const err = await pkg
      .connect({ port, host: '127.0.0.1', strict: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(pkg.KeepAliveUnsupportedError);
    expect(err).toMatchObject({
      code: 'HALFOPEN_ERR_KEEPALIVE_UNSUPPORTED',
      unsupported: [expect.stringMatching(/^userTimeoutMs: /)],
    });
    const peer = accepted.at(-1)!;
    await vi.waitFor(() => expect(peer.readableEnded || peer.destroyed).toBe(true));
  });
});
