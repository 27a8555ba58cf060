// The whole test suite: build, then the five tiers one after another, each counted.
// `node scripts/test.mjs [tier...]` runs only the named tiers (unit, property, hostile, fault, integration).
// Installs the system parts the build and the fault and integration tiers need when they are
// missing and this is a root Debian machine; otherwise those tiers fail and say what is missing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const all = ['unit', 'property', 'hostile', 'fault', 'integration'];
const tiers = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all;
for (const t of tiers) {
  if (!all.includes(t)) {
    console.error(`unknown tier "${t}"; tiers: ${all.join(', ')}`);
    process.exit(2);
  }
}
const sh = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;
// The pnpm running this script (npx puts it nowhere on PATH on a machine without pnpm).
const pnpm = (args) =>
  process.env.npm_execpath
    ? sh(process.execPath, [process.env.npm_execpath, ...args])
    : sh('pnpm', args);

// What scripts/setup-system.sh installs: the compilers for sockopt's prebuilt binaries (every
// build needs them), network namespaces and iptables (fault tier), ZooKeeper, redis-server and
// PostgreSQL (integration tier).
const onPath = (bin) =>
  (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(`${d}/${bin}`));
const haveSystem =
  ['cc', 'musl-gcc', 'aarch64-linux-gnu-gcc', 'redis-server'].every(onPath) &&
  [
    '/usr/aarch64-linux-gnu/include/stdio.h',
    '/usr/share/java/zookeeper.jar',
    '/usr/sbin/iptables',
    '/usr/sbin/ip',
    '/usr/lib/postgresql/15/bin/postgres',
  ].every((f) => existsSync(f));
if (!haveSystem && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
  if (sh('bash', ['scripts/setup-system.sh']) !== 0) process.exit(1);
}
if (!process.env.HALFOPEN_SKIP_BUILD && pnpm(['-s', 'build']) !== 0) {
  console.error('build failed');
  process.exit(1);
}

mkdirSync(`${root}.cache`, { recursive: true });
const vitest = `${root}node_modules/vitest/vitest.mjs`;
let passed = 0;
let failed = 0;
const lines = [];
for (const tier of tiers) {
  const out = `${root}.cache/vitest-${tier}.json`;
  const start = Date.now();
  const status = spawnSync(
    process.execPath,
    [
      vitest,
      'run',
      '--project',
      tier,
      '--reporter=default',
      '--reporter=json',
      `--outputFile.json=${out}`,
    ],
    { cwd: root, stdio: 'inherit' },
  ).status;
  let p = 0;
  let f = 0;
  try {
    const report = JSON.parse(readFileSync(out, 'utf8'));
    p = report.numPassedTests;
    f = report.numFailedTests;
  } catch {
    f = 1; // the runner died before writing its report
  }
  if (status !== 0 && f === 0) f = 1;
  if (p === 0 && f === 0) {
    console.error(`tier ${tier} ran no test: that is a failure, not a pass`);
    f = 1;
  }
  passed += p;
  failed += f;
  lines.push(`${tier}: ${p} passed, ${f} failed (${((Date.now() - start) / 1000).toFixed(1)} s)`);
}
console.log('\nTest tiers');
for (const l of lines) console.log(`  ${l}`);
console.log(`total: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
