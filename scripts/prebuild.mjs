// Builds @halfopen/sockopt's native part from source into packages/sockopt/prebuilds/:
//   linux-x64/sockopt.node        glibc, with cc (or x86_64-linux-gnu-gcc on another host)
//   linux-x64-musl/sockopt.node   musl, with musl-gcc (Debian musl-tools)
//   linux-arm64/sockopt.node      glibc, with aarch64-linux-gnu-gcc (Debian gcc-aarch64-linux-gnu)
// No node-gyp, no python, no make: one C file compiled against the N-API headers of the running
// Node (include/node beside the node binary; N-API is ABI-stable, so one binary per platform
// serves Node 20 to 26). The napi_* symbols stay undefined and are resolved by the Node that
// loads the binary. A missing compiler or header is a loud failure naming what to install.
// `node scripts/prebuild.mjs linux-arm64` builds only the named targets.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { arch } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = fileURLToPath(new URL('../packages/sockopt/', import.meta.url));
const source = join(pkg, 'native/sockopt.c');
const headers =
  process.env.HALFOPEN_NODE_INCLUDE ?? join(dirname(dirname(process.execPath)), 'include/node');
const hostX64 = arch() === 'x64';

// Each target: its prebuilds/ folder, the compilers that build it (first found wins) and the
// Debian package that provides them.
const targets = [
  {
    name: 'linux-x64',
    compilers: hostX64 ? ['x86_64-linux-gnu-gcc', 'cc', 'gcc'] : ['x86_64-linux-gnu-gcc'],
    apt: hostX64 ? 'gcc' : 'gcc-x86-64-linux-gnu',
  },
  {
    name: 'linux-x64-musl',
    compilers: hostX64 ? ['musl-gcc'] : [],
    apt: 'musl-tools (on an x64 host)',
  },
  { name: 'linux-arm64', compilers: ['aarch64-linux-gnu-gcc'], apt: 'gcc-aarch64-linux-gnu' },
];

const wanted = process.argv.slice(2);
for (const w of wanted) {
  if (!targets.some((t) => t.name === w)) {
    console.error(
      `prebuild: unknown target "${w}"; targets: ${targets.map((t) => t.name).join(', ')}`,
    );
    process.exit(2);
  }
}

const onPath = (bin) =>
  (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, bin)));

const missing = [];
const headersMissing = !existsSync(join(headers, 'node_api.h'));
if (headersMissing) {
  missing.push(
    `the N-API headers (${headers}/node_api.h; set HALFOPEN_NODE_INCLUDE to a Node include/node folder)`,
  );
}
const plan = [];
for (const t of targets) {
  if (wanted.length > 0 && !wanted.includes(t.name)) continue;
  const cc = t.compilers.find(onPath);
  if (cc) plan.push({ ...t, cc });
  else
    missing.push(
      `${t.name}: no ${t.compilers.join(' / ') || 'compiler'} on PATH (Debian package ${t.apt}; scripts/setup-system.sh installs it)`,
    );
}
// In CI (and with HALFOPEN_PREBUILD_STRICT=1) every binary must be built. Elsewhere (a
// machine with no compiler running the demo) the build goes on with what it can build, says
// what it skipped, and sockopt reports at run time that no binary fits (support().reason).
if (missing.length > 0) {
  const strict = Boolean(process.env.CI || process.env.HALFOPEN_PREBUILD_STRICT);
  console.error(
    `prebuild: ${strict ? 'cannot build' : 'skipping'} these sockopt binaries; missing:`,
  );
  for (const m of missing) console.error(`  - ${m}`);
  if (strict || headersMissing) process.exit(strict ? 1 : 0);
}

for (const t of plan) {
  const dir = join(pkg, 'prebuilds', t.name);
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'sockopt.node');
  // Built beside and renamed over: a process that has the old binary loaded keeps its mapping.
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync(
    t.cc,
    [
      '-O2',
      '-fPIC',
      '-shared',
      '-std=c11',
      '-D_GNU_SOURCE',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-fvisibility=hidden',
      '-s',
      `-ffile-prefix-map=${pkg}=.`,
      '-Wl,--build-id=sha1',
      `-I${headers}`,
      '-DNAPI_VERSION=8',
      '-o',
      tmp,
      source,
    ],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    console.error(`prebuild: ${t.cc} failed for ${t.name} (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
  renameSync(tmp, out);
  console.log(`prebuild: ${t.name}/sockopt.node (${t.cc})`);
}
