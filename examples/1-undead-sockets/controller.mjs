// A controller for incident 1's cluster, to attack it by hand:
// `node examples/1-undead-sockets/controller.mjs [--id 1] [--port 7111] [--instances 8] [--reconnects 5]`
// connects to a random instance, sends a few `{ id, seq, sentAt }` lines, reconnects elsewhere
// `--reconnects` times without closing the old sockets (what the proxy did), then asks every
// instance for its latest message. Against the naive cluster most answers are stale; against
// `--guarded` every answer is the newest, and the old sockets are closed by the servers.
// It keeps its sockets open until Ctrl-C, so the cluster's status line shows them.
import net from 'node:net';
import { option } from '../cli.mjs';
import { controller } from './cluster.mjs';

const id = `ctl-${option('id', 1)}`;
const base = option('port', 7111);
const ports = Array.from({ length: option('instances', 8) }, (_, i) => base + i);

function ask(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.setEncoding('utf8');
    s.on('error', (err) => resolve({ error: err.message }));
    s.on('connect', () => s.write(`${JSON.stringify({ latest: id })}\n`));
    s.on('data', (d) => {
      buf += d;
      if (!buf.includes('\n')) return;
      s.destroy();
      try {
        resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
      } catch {
        resolve({ error: `malformed answer ${buf.slice(0, 40)}` });
      }
    });
  });
}

const { sockets, lastSeq } = await controller(id, ports, { reconnects: option('reconnects', 5) });
await new Promise((r) => setTimeout(r, 200));
console.log(`${id}: ${sockets.length} connections made, newest message seq ${lastSeq}`);
let stale = 0;
for (const port of ports) {
  const m = await ask(port);
  const what = m === null ? 'nothing' : m.error ? m.error : `seq ${m.seq}`;
  if (m && m.seq < lastSeq) stale++;
  console.log(`  instance :${port} answers ${what}${m && m.seq < lastSeq ? '  <- stale' : ''}`);
}
const superseded = sockets.slice(0, -1).filter((s) => s.destroyed).length;
console.log(
  `${stale} stale answers; ${superseded} of ${sockets.length - 1} old connections closed by the servers`,
);
console.log('holding the sockets open (Ctrl-C to exit)');
