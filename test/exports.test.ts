import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Every package's built output loads both ways from a plain Node process: `import` (ESM)
// and `require()` (CommonJS), as ONE module instance (docs/modules.md): the same classes,
// functions and state both ways. New packages are picked up here.
const root = fileURLToPath(new URL('..', import.meta.url));
// packages/internal is bundled into the others and never built or published on its own.
const packages = readdirSync(`${root}packages`).filter(
  (d) => d !== 'internal' && existsSync(`${root}packages/${d}/package.json`),
);

describe.each(packages)('@halfopen/%s built output', (dir) => {
  const pkg = JSON.parse(readFileSync(`${root}packages/${dir}/package.json`, 'utf8'));
  const cwd = `${root}packages/${dir}`;
  const node = (code: string, type: 'module' | 'commonjs') =>
    execFileSync(process.execPath, ['--input-type', type, '-e', code], {
      cwd,
      encoding: 'utf8',
    }).trim();

  it('has one ESM entry with types, and engines that require() ESM', () => {
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
    expect(pkg.type).toBe('module');
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.engines.node).toBe('^20.19.0 || >=22.12.0');
  });

  it('loads with import and with require, exposing the same names', () => {
    const viaImport = node(
      `import * as m from '${pkg.name}'; console.log(Object.keys(m).sort().join(','))`,
      'module',
    );
    const viaRequire = node(
      `console.log(Object.keys(require('${pkg.name}')).sort().join(','))`,
      'commonjs',
    );
    expect(viaImport.length).toBeGreaterThan(0);
    expect(viaRequire).toBe(viaImport);
  });

  it('is one module instance: every export is the same object through import and require', () => {
    const differing = node(
      `import { createRequire } from 'node:module';
       const m = await import('${pkg.name}');
       const r = createRequire(import.meta.url)('${pkg.name}');
       console.log(Object.keys(m).filter((k) => m[k] !== r[k]).join(','));`,
      'module',
    );
    expect(differing).toBe('');
  });
});

// What the registry shows and what `npm install` pulls in, for every package that is published.
const published = packages.filter(
  (d) => !JSON.parse(readFileSync(`${root}packages/${d}/package.json`, 'utf8')).private,
);
describe.each(published)('@halfopen/%s package manifest', (dir) => {
  const pkg = JSON.parse(readFileSync(`${root}packages/${dir}/package.json`, 'utf8'));
  const cwd = `${root}packages/${dir}`;

  it('has the metadata a registry page and a bug report need, and no type packages at run time', () => {
    expect(pkg.license).toBe('MIT');
    expect(existsSync(`${cwd}/LICENSE`)).toBe(true);
    expect(existsSync(`${cwd}/README.md`)).toBe(true);
    expect(pkg.repository).toMatchObject({ type: 'git', directory: `packages/${dir}` });
    expect(pkg.homepage).toMatch(new RegExp(`/packages/${dir}#readme$`));
    expect(pkg.bugs.url).toMatch(/\/issues$/);
    expect(pkg.keywords.length).toBeGreaterThanOrEqual(3);
    expect(pkg.files).toContain('dist');
    const runtime = Object.keys({ ...pkg.dependencies });
    expect(runtime.filter((d) => d.startsWith('@types/'))).toEqual([]);
  });

  it('declares its types without default imports of Node builtins (TS1192 without esModuleInterop)', () => {
    const dts = readFileSync(`${cwd}/dist/index.d.ts`, 'utf8');
    expect(dts.match(/^import \w+(, \{[^}]*\})? from ['"][^'"]+['"];?$/gm) ?? []).toEqual([]);
  });
});
