import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'tsup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// An app bundled with its dependencies inlined, as esbuild (here through tsup) makes it: the
// .node file cannot be inlined, so the bundle must say where it is or find it beside itself.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const x64 = fileURLToPath(new URL('../prebuilds/linux-x64/sockopt.node', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'halfopen-bundle-'));
  for (const format of ['cjs', 'esm'] as const) {
    await build({
      entry: { app: entry },
      format: [format],
      outDir: join(dir, format, 'dist'),
      noExternal: [/.*/],
      platform: 'node',
      target: 'node20',
      silent: true,
      config: false,
      dts: false,
      tsconfig: join(root, 'tsconfig.json'),
    });
  }
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const support = (file: string, env: Record<string, string> = {}) =>
  JSON.parse(
    execFileSync(
      process.execPath,
      [
        '-e',
        `import(${JSON.stringify(file)}).then((m) => console.log(JSON.stringify(m.support())))`,
      ],
      { encoding: 'utf8', env: { ...process.env, HALFOPEN_SOCKOPT_BINARY: '', ...env } },
    ),
  );

describe('bundled', () => {
  it('a CommonJS bundle loads, and without HALFOPEN_SOCKOPT_BINARY says how to provide the binary', () => {
    const s = support(join(dir, 'cjs/dist/app.cjs'));
    expect(s.native).toBe(false);
    expect(s.reason).toMatch(/cannot locate prebuilds\/.*HALFOPEN_SOCKOPT_BINARY/);
  });

  it('a CommonJS bundle with HALFOPEN_SOCKOPT_BINARY loads that binary', () => {
    expect(support(join(dir, 'cjs/dist/app.cjs'), { HALFOPEN_SOCKOPT_BINARY: x64 })).toMatchObject({
      native: true,
      binary: x64,
    });
  });

  it('an ESM bundle finds prebuilds/ copied one level above its folder', () => {
    const before = support(join(dir, 'esm/dist/app.js'));
    expect(before.native).toBe(false);
    expect(before.reason).toContain(join(dir, 'esm/prebuilds/linux-x64/sockopt.node'));
    cpSync(join(x64, '..'), join(dir, 'esm/prebuilds/linux-x64'), { recursive: true });
    expect(support(join(dir, 'esm/dist/app.js'))).toMatchObject({
      native: true,
      binary: join(dir, 'esm/prebuilds/linux-x64/sockopt.node'),
    });
  });
});
