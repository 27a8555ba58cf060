// A subscriber for incident 2's push service:
// `node examples/2-lock-never-released/subscriber.mjs [--port 7102] [--stop-reading]`
// prints the newest quote it has every second; with --stop-reading it connects and never reads
// (its receive window fills and goes to zero, like the app in the incident).
import net from 'node:net';
import { flag, option } from '../cli.mjs';

const stop = flag('stop-reading');
const s = net.connect(option('port', 7102), '127.0.0.1');
s.on('error', (err) => {
  console.error(`subscriber: ${err.message}`);
  process.exit(1);
});
s.on('close', () => {
  console.log('subscriber: the server closed the connection');
  process.exit(0);
});
let bytes = 0;
let newest = '';
s.on('connect', () => {
  console.log(`subscriber connected${stop ? ', and never reading' : ''}`);
  if (stop) s.pause();
});
s.on('data', (d) => {
  bytes += d.length;
  const at = d.lastIndexOf('quote ');
  if (at >= 0)
    newest = d
      .subarray(at, at + 30)
      .toString()
      .split(' ')
      .slice(0, 2)
      .join(' ');
});
setInterval(() => {
  if (!stop) console.log(`received ${Math.round(bytes / 1024)} KiB, newest ${newest || 'none'}`);
}, 1000);
