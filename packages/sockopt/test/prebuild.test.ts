import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../../../scripts/prebuild.mjs', import.meta.url));
// Strict (CI, HALFOPEN_PREBUILD_STRICT) unless a test says otherwise.
const prebuild = (env: Record<string, string>, args: string[] = [], strict = true) => {
  const base = { ...process.env };
  delete base.CI;
  delete base.HALFOPEN_PREBUILD_STRICT;
  return spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8',
    env: { ...base, ...(strict ? { HALFOPEN_PREBUILD_STRICT: '1' } : {}), ...env },
  });
};

describe('scripts/prebuild.mjs', () => {
  it('without compilers on PATH, fails before building anything and names each Debian package', () => {
    const r = prebuild({ PATH: '/nonexistent' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('linux-x64-musl: no musl-gcc');
    expect(r.stderr).toContain('musl-tools');
    expect(r.stderr).toContain('linux-arm64: no aarch64-linux-gnu-gcc');
    expect(r.stderr).toContain('gcc-aarch64-linux-gnu');
    expect(r.stdout).not.toContain('prebuild: linux-');
  });

  it('outside CI, without compilers, says what it skipped and exits 0 (the demo still builds)', () => {
    const r = prebuild({ PATH: '/nonexistent' }, [], false);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('skipping these sockopt binaries');
    expect(r.stderr).toContain('musl-tools');
    expect(r.stdout).not.toContain('prebuild: linux-');
  });

  it('without the N-API headers, says where it looked', () => {
    const r = prebuild({ HALFOPEN_NODE_INCLUDE: '/nonexistent/include/node' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('/nonexistent/include/node/node_api.h');
  });

  it('refuses an unknown target', () => {
    const r = prebuild({}, ['linux-riscv64']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown target "linux-riscv64"');
  });
});
