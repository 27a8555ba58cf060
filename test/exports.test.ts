import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Every package's built output loads both ways from a plain Node process: `import` (ESM)
// and `require()` (CommonJS), with the same named exports. New packages are picked up here.
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

  it('has an exports map with types for import and require', () => {
    const dot = pkg.exports['.'];
    expect(dot.import.types).toMatch(/\.d\.ts$/);
    expect(dot.require.types).toMatch(/\.d\.cts$/);
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.engines.node).toMatch(/>=\s*20/);
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
});
