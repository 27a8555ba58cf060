import { Agent, interceptors, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { undiciConnector } from '../src/index.js';
import { idleClosingServer } from './servers.js';

// The same race as agent-race.int.test.ts, through undici: its idle-socket check reads a FIN
// already received, but a server that closes while the request is on its way still resets it
// (undici 7's default dispatcher lost 2 of 40 here); the connector's retry options send it again.
const gap = () => 990 + Math.random() * 20;

describe('undici with the connector against a server closing idle sockets', () => {
  it('loses none of 300 requests to a server closing idle sockets at 1000 ms without a hint', async () => {
    const srv = await idleClosingServer(1000);
    const connect = undiciConnector();
    const agent = new Agent({ connect }).compose(interceptors.retry(connect.retry));
    const failed: string[] = [];
    let done = 0;
    try {
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          for (let i = 0; i < 30; i++) {
            try {
              const r = await request(`http://127.0.0.1:${srv.port}/`, { dispatcher: agent });
              await r.body.text();
            } catch (err) {
              failed.push(String((err as { code?: string }).code ?? err));
            }
            done++;
            await new Promise((r) => setTimeout(r, gap()));
          }
        }),
      );
      expect(done).toBe(300);
      expect(failed).toEqual([]);
    } finally {
      await agent.close();
      await srv.close();
    }
  });
});
