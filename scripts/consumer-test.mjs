// What a user gets from the registry, checked before a release: every public package packed
// with the release command (scripts/pack.mjs), installed from the tarballs with npm, pnpm and
// yarn into clean directories outside the workspace, then on Node 20, 22.12, 24 and 26:
//   - an ESM script imports every package, a CommonJS script requires every package, and both
//     see one module instance (the same classes and functions through import and require);
//   - `tsc --noEmit` with skipLibCheck off in four project shapes: nodenext (ESM), bundler,
//     commonjs with and without esModuleInterop.
// And on Node 22.11 (below 22.12, which cannot require() ESM): npm warns at install that the
// packages' `engines` exclude it. Run after `pnpm build`.
//   node scripts/consumer-test.mjs [npm|pnpm|yarn ...]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { nodeBinary } from './node-bin.mjs';
import { packAll } from './pack.mjs';

const CLIENTS = {
  npm: ['npm', ['install', '--no-audit', '--no-fund', '--loglevel=error']],
  pnpm: ['npx', ['-y', 'pnpm@10.34.9', 'install', '--config.confirmModulesPurge=false']],
  yarn: ['npx', ['-y', 'yarn@1.22.22', 'install', '--non-interactive', '--silent']],
};
const NODES = ['20', '22.12.0', '24', '26'];
const SHAPES = {
  nodenext: {
    type: 'module',
    compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext' },
  },
  bundler: { type: 'module', compilerOptions: { module: 'esnext', moduleResolution: 'bundler' } },
  'commonjs-interop': {
    type: 'commonjs',
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true },
  },
  'commonjs-no-interop': {
    type: 'commonjs',
    compilerOptions: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: false },
  },
};

const clients = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(CLIENTS);
const failures = [];
const sh = (cmd, args, cwd, env = process.env) =>
  spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
function expectOk(what, r) {
  const ok = r.status === 0;
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(`${what}\n${r.stdout}\n${r.stderr}`.trim());
  return ok;
}

const tarballs = packAll();
const names = Object.keys(tarballs);
const files = Object.fromEntries(names.map((n) => [n, `file:${tarballs[n]}`]));
const work = mkdtempSync(join(tmpdir(), 'halfopen-consumers-'));

// Both scripts load every package both ways and compare what they got, export by export.
const loadBoth = `
const names = ${JSON.stringify(names)};
for (const name of names) {
  const viaImport = await import(name);
  const viaRequire = require(name);
  const keys = Object.keys(viaImport).filter((k) => k !== 'default').sort();
  if (keys.length === 0) throw new Error(name + ' exports nothing');
  for (const k of keys) {
    if (viaRequire[k] !== viaImport[k]) throw new Error(name + ': ' + k + ' differs between import and require (two module instances)');
  }
}
console.log('loaded ' + names.length + ' packages, one instance each');`;
const esm = `import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\n${loadBoth}\n`;
const cjs = `(async () => {${loadBoth}\n})().catch((e) => { console.error(e); process.exit(1); });\n`;
// Every package's public types, with a value from each so the declarations are really read.
const typesTs = `${names.map((n, i) => `import * as p${i} from '${n}';`).join('\n')}
export const loaded: number[] = [${names.map((_, i) => `Object.keys(p${i}).length`).join(', ')}];
`;

for (const client of clients) {
  const [cmd, args] = CLIENTS[client] ?? [];
  if (!cmd)
    throw new Error(`unknown client ${client}; clients: ${Object.keys(CLIENTS).join(', ')}`);
  console.log(`\n== ${client}`);
  const dir = join(work, client);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(
      {
        name: `consumer-${client}`,
        version: '1.0.0',
        private: true,
        dependencies: { ...files, typescript: '~5.9.3', '@types/node': '^20.19.0' },
        // Packages that depend on each other would otherwise be looked up on the registry.
        overrides: files,
        pnpm: { overrides: files },
        resolutions: files,
      },
      null,
      2,
    ),
  );
  if (!expectOk(`${client} install`, sh(cmd, args, dir))) continue;
  writeFileSync(join(dir, 'esm.mjs'), esm);
  writeFileSync(join(dir, 'cjs.cjs'), cjs);
  for (const version of NODES) {
    const node =
      version === '20' && process.versions.node.startsWith('20.')
        ? process.execPath
        : nodeBinary(version);
    const v = sh(node, ['--version'], dir).stdout.trim();
    expectOk(`${client} ${v} ESM import + require`, sh(node, ['esm.mjs'], dir));
    expectOk(`${client} ${v} CommonJS require + import`, sh(node, ['cjs.cjs'], dir));
  }
  for (const [shape, { type, compilerOptions }] of Object.entries(SHAPES)) {
    const sub = join(dir, shape);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'package.json'), JSON.stringify({ type }));
    writeFileSync(
      join(sub, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
          ...compilerOptions,
        },
        files: ['index.ts'],
      }),
    );
    writeFileSync(join(sub, 'index.ts'), typesTs);
    const tsc = join(dir, 'node_modules/typescript/bin/tsc');
    expectOk(`${client} tsc ${shape}`, sh(process.execPath, [tsc, '-p', sub], sub));
  }
}

// Below 22.12 require() cannot load ESM: engines must exclude it, and npm must say so at install.
{
  console.log('\n== Node 22.11 (excluded by engines)');
  const node = nodeBinary('22.11.0');
  const npmCli = join(sh('npm', ['root', '-g']).stdout.trim(), 'npm/bin/npm-cli.js');
  const dir = join(work, 'node-22.11');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'consumer-old-node',
      private: true,
      dependencies: files,
      overrides: files,
    }),
  );
  const r = sh(node, [npmCli, 'install', '--no-audit', '--no-fund'], dir, {
    ...process.env,
    PATH: `${dirname(node)}:${process.env.PATH}`,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  const warned = /EBADENGINE/.test(out) && names.every((n) => out.includes(n));
  console.log(`  ${warned ? 'ok  ' : 'FAIL'} npm warns EBADENGINE for every package on Node 22.11`);
  if (!warned) failures.push(`npm on Node 22.11 did not warn about engines:\n${out}`);
}

rmSync(work, { recursive: true, force: true });
if (failures.length > 0) {
  console.error(`\nconsumer test: ${failures.length} failed\n\n${failures.join('\n\n')}`);
  process.exit(1);
}
console.log('\nconsumer test: every check passed');
