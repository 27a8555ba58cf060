import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpsAgent } from '../src/index.js';

let key: string;
let cert: string;
let server: https.Server;
let port: number;
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'halfopen-clients-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  key = readFileSync(join(dir, 'key.pem'), 'utf8');
  cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  server = https.createServer({ key, cert }, (req, res) => {
    req.resume();
    res.end((req.socket as { servername?: string }).servername || 'none');
  });
  server.keepAliveTimeout = 0;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function get(agent: https.Agent, host: string, headers: Record<string, string> = {}) {
  return new Promise<{ body: string; reused: boolean }>((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, agent, headers: { host, ...headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ body, reused: req.reusedSocket }));
      },
    );
    req.on('error', reject);
  });
}

describe('HttpsAgent', () => {
  it('verifies the server with the given ca, sends the servername from the Host header, and pools', async () => {
    const agent = new HttpsAgent({ ca: cert });
    try {
      expect(await get(agent, 'localhost')).toEqual({ body: 'localhost', reused: false });
      expect(await get(agent, 'localhost')).toEqual({ body: 'localhost', reused: true });
      expect(agent.stats()).toMatchObject({ created: 1, reused: 1 });
    } finally {
      agent.destroy();
    }
  });

  it('refuses a server its ca does not trust', async () => {
    const agent = new HttpsAgent();
    try {
      await expect(get(agent, 'localhost')).rejects.toThrow(/self[- ]signed|unable to verify/i);
      expect(agent.stats().connectFailed).toBe(1);
    } finally {
      agent.destroy();
    }
  });
});
