// `pnpm demo [--report [file]]`: builds the packages (the examples import them as users do),
// then runs the incident lab.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (args) =>
  spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' }).status ?? 1;
if (!process.env.HALFOPEN_SKIP_BUILD) {
  // The pnpm running this script (npx puts it nowhere on PATH on a machine without pnpm).
  const build = process.env.npm_execpath
    ? run([process.env.npm_execpath, '-s', 'build'])
    : (spawnSync('pnpm', ['-s', 'build'], { cwd: root, stdio: 'inherit' }).status ?? 1);
  if (build !== 0) {
    console.error('demo: the build failed');
    process.exit(1);
  }
}
process.exit(run(['examples/demo.mjs', ...process.argv.slice(2)]));
