// Packs every public package the way a release does (`pnpm pack`, which rewrites
// `workspace:` and `catalog:` to real versions; `npm pack` does not) and checks each tarball:
// no `workspace:`/`catalog:` left in its manifest, LICENSE and README.md present, and nothing
// outside the manifest's `files` (besides what npm always ships). Run after `pnpm build`.
//   node scripts/pack.mjs [dest]   packs into dest (default .cache/pack) and checks
// Other scripts import packAll() to get the same tarballs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

/** The publishable packages: packages/* whose manifest is not private. */
export function publicPackages() {
  return readdirSync(join(root, 'packages'))
    .filter((d) => existsSync(join(root, 'packages', d, 'package.json')))
    .map((d) => {
      const dir = join(root, 'packages', d);
      return { dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) };
    })
    .filter((p) => !p.manifest.private);
}

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

// The pnpm running this script when there is one (npx puts it nowhere on PATH), else PATH's.
function pnpm(args, cwd) {
  const execpath = process.env.npm_execpath;
  return execpath?.includes('pnpm')
    ? run(process.execPath, [execpath, ...args], cwd)
    : run('pnpm', args, cwd);
}

// npm ships these whatever `files` says.
const ALWAYS = /^(package\.json|README(\.md)?|LICENSE|CHANGELOG\.md)$/i;

function inFiles(path, files) {
  return files.some((f) => {
    const pattern = f.replace(/^\.\//, '').replace(/\/$/, '');
    return path === pattern || path.startsWith(`${pattern}/`);
  });
}

/** Problems with one packed tarball, as sentences; empty when it is fine. */
export function checkTarball(tgz, manifest) {
  const problems = [];
  const entries = run('tar', ['-tzf', tgz], root)
    .split('\n')
    .filter(Boolean)
    .map((e) => e.replace(/^package\//, ''));
  const packed = JSON.parse(run('tar', ['-xzOf', tgz, 'package/package.json'], root));
  const text = JSON.stringify(packed);
  for (const proto of ['workspace:', 'catalog:']) {
    if (text.includes(proto)) problems.push(`its package.json still contains "${proto}"`);
  }
  if (!entries.includes('LICENSE')) problems.push('it has no LICENSE');
  if (!entries.includes('README.md')) problems.push('it has no README.md');
  const files = manifest.files ?? [];
  for (const e of entries) {
    if (!ALWAYS.test(e) && !inFiles(e, files)) problems.push(`it ships ${e}, outside "files"`);
  }
  if (!entries.some((e) => e.startsWith('dist/'))) problems.push('it has no dist/ (build first)');
  return problems;
}

/** Packs every public package into `dest`; returns { name: tarball path }. Throws on a bad tarball. */
export function packAll(dest = join(root, '.cache/pack')) {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  const out = {};
  const problems = [];
  for (const { dir, manifest } of publicPackages()) {
    const before = new Set(readdirSync(dest));
    pnpm(['pack', '--pack-destination', dest], dir);
    const tgz = readdirSync(dest).find((f) => !before.has(f) && f.endsWith('.tgz'));
    if (!tgz) throw new Error(`pnpm pack made no tarball for ${manifest.name}`);
    out[manifest.name] = join(dest, tgz);
    for (const p of checkTarball(join(dest, tgz), manifest))
      problems.push(`${manifest.name}: ${p}`);
  }
  if (problems.length > 0) {
    throw new Error(`packed packages are not publishable:\n  ${problems.join('\n  ')}`);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const packed = packAll(process.argv[2]);
    for (const [name, tgz] of Object.entries(packed)) console.log(`${name}: ${tgz}`);
    console.log(`pack: ${Object.keys(packed).length} packages packed and checked`);
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}
