// What the lab's standalone servers and clients share: reading `--name value` flags, knowing
// whether a module was started directly, and printing a status line every few seconds.
import { pathToFileURL } from 'node:url';

/** True when the module with this `import.meta.url` is the one node was started with. */
export const isMain = (url) =>
  process.argv[1] !== undefined && url === pathToFileURL(process.argv[1]).href;

/** `--name` given? */
export const flag = (name) => process.argv.includes(`--${name}`);

/** The number after `--name`, or `dflt`; anything else is an error naming the flag. */
export function option(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) {
    console.error(`--${name} takes a number >= 0, got ${process.argv[i + 1]}`);
    process.exit(2);
  }
  return v;
}

/** Prints `line()` every `ms` (unref'd: it never keeps the process alive on its own). */
export function statusEvery(ms, line) {
  const t = setInterval(
    () => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line()}`),
    ms,
  );
  t.unref();
  return t;
}

/** Listens on 127.0.0.1:`port` and prints `banner`; a port in use ends the process with a message naming it. */
export function serve(server, port, banner) {
  server.once('error', (err) => {
    console.error(
      `cannot listen on 127.0.0.1:${port}: ${err.message} (choose another with --port)`,
    );
    process.exit(2);
  });
  server.listen(port, '127.0.0.1', () => console.log(`${banner} on 127.0.0.1:${port}`));
}
