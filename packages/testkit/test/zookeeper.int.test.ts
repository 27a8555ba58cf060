import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fourLetterWord, startZooKeeper, type ZooKeeperServer } from '../src/index.js';

describe('startZooKeeper', () => {
  let zk: ZooKeeperServer;
  beforeAll(async () => {
    zk = await startZooKeeper();
  });
  afterAll(async () => {
    await zk?.stop();
  });

  it('starts a real server that answers ruok on its own port', async () => {
    expect(await zk.ruok()).toBe('imok');
    expect(zk.connectString).toBe(`127.0.0.1:${zk.port}`);
    expect(await fourLetterWord(zk.port, 'srvr')).toMatch(/Zookeeper version: 3\.8/);
  });

  it('restarts on the same port and answers again', async () => {
    await zk.restart({ downMs: 200 });
    expect(await zk.ruok()).toBe('imok');
  });

  it('stops: the port refuses connections afterwards', async () => {
    const other = await startZooKeeper();
    const port = other.port;
    await other.stop();
    await expect(
      new Promise((resolve, reject) =>
        net.connect(port, '127.0.0.1').once('connect', resolve).once('error', reject),
      ),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
