import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  countTcpStates,
  ownSocketInodes,
  parseProcNetTcp,
  tcpSockets,
  waitFor,
} from '../src/index.js';

const SAMPLE = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 08 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D431 0100007F:1F90 05 00000000:00000000 00:00000000 00000000     0        0 0 0 0000000000000000 20 4 30 10 -1
`;

describe('parseProcNetTcp', () => {
  it('reads ports and states from /proc/net/tcp text', () => {
    expect(parseProcNetTcp(SAMPLE)).toEqual([
      { localPort: 8080, remotePort: 0, state: 'LISTEN', inode: 1 },
      { localPort: 8080, remotePort: 54321, state: 'CLOSE_WAIT', inode: 2 },
      { localPort: 54321, remotePort: 8080, state: 'FIN_WAIT2', inode: 0 },
    ]);
  });

  it('passes over malformed lines instead of throwing', () => {
    expect(parseProcNetTcp('header\ngarbage\n  3: zz 00 99\n')).toEqual([]);
  });
});

describe('countTcpStates', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const fn of cleanup.splice(0)) fn();
  });

  it('counts a socket really left in CLOSE_WAIT by a server that never closes', async () => {
    const accepted: net.Socket[] = [];
    // allowHalfOpen: the server does not answer the client's FIN, as incident 4's SDK did not.
    const server = net.createServer({ allowHalfOpen: true }, (s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => {
      for (const s of accepted) s.destroy();
      server.close();
    });
    const { port } = server.address() as net.AddressInfo;
    expect(countTcpStates(port, { side: 'local' }).LISTEN).toBe(1);

    const client = net.connect(port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    await waitFor(() => accepted.length === 1, 'the accept');
    expect(countTcpStates(port, { side: 'local' }).ESTABLISHED).toBe(1);

    client.end();
    await waitFor(() => countTcpStates(port, { side: 'local' }).CLOSE_WAIT === 1, 'CLOSE_WAIT');
    expect(countTcpStates(port, { side: 'remote' }).FIN_WAIT2).toBe(1);

    accepted[0]!.destroy();
    await waitFor(
      () => countTcpStates(port, { side: 'local' }).CLOSE_WAIT === 0,
      'CLOSE_WAIT to clear',
    );
    client.destroy();
  });
});

describe('ownSocketInodes', () => {
  it("names this process's sockets, so its rows can be told from other processes'", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    const rows = () => tcpSockets().filter((r) => r.localPort === port && r.state === 'LISTEN');
    expect(rows()).toHaveLength(1);
    expect(ownSocketInodes().has(rows()[0]!.inode)).toBe(true);
    const inode = rows()[0]!.inode;
    await new Promise((r) => server.close(r));
    expect(ownSocketInodes().has(inode)).toBe(false);
  });
});
