// The attacker for incident 3's server:
// `node examples/3-lost-rst-probes/prober.mjs [--port 7103] [--every 250]`
// opens a connection every `--every` ms and forgets it, like a health probe whose RST was lost,
// and sends one real request (`ping`) a second, printing whether `pong` came back.
import net from 'node:net';
import { option } from '../cli.mjs';
import { request } from './server.mjs';

const port = option('port', 7103);
const forgotten = [];
setInterval(
  () => {
    forgotten.push(net.connect(port, '127.0.0.1').on('error', () => {}));
  },
  option('every', 250),
);
let served = 0;
let sent = 0;
setInterval(async () => {
  sent++;
  const ok = await request(port, 900);
  if (ok) served++;
  console.log(
    `request ${sent}: ${ok ? 'pong' : 'no answer within 900 ms'}; ${served}/${sent} served, ${forgotten.filter((s) => !s.destroyed).length} forgotten probe connections still open`,
  );
}, 1000);
