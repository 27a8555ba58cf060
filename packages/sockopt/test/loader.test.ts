import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  chooseBinary,
  defaultPrebuildsDir,
  detectLibc,
  type Host,
  loadNative,
  PREBUILT,
  platformName,
  requireBinary,
} from '../src/loader.js';
import { readElf } from './elf.js';

const prebuilds = defaultPrebuildsDir() as string;
const binary = (tag: string) => join(prebuilds, tag, 'sockopt.node');

function host(over: Partial<Host>): Host {
  return {
    platform: 'linux',
    arch: 'x64',
    libc: 'glibc',
    binaryEnv: undefined,
    prebuildsDir: '/pkg/prebuilds',
    exists: () => true,
    ...over,
  };
}

describe('chooseBinary', () => {
  it.each([
    ['x64', 'glibc', '/pkg/prebuilds/linux-x64/sockopt.node'],
    ['x64', 'musl', '/pkg/prebuilds/linux-x64-musl/sockopt.node'],
    ['arm64', 'glibc', '/pkg/prebuilds/linux-arm64/sockopt.node'],
  ] as const)('linux %s %s loads %s', (arch, libc, file) => {
    expect(chooseBinary(host({ arch, libc }))).toEqual({ file });
  });

  it.each([
    [{ platform: 'darwin', arch: 'arm64', libc: undefined }, /no native part for darwin/],
    [{ platform: 'win32', arch: 'x64', libc: undefined }, /no native part for win32/],
    [{ arch: 'arm64', libc: 'musl' as const }, /no prebuilt binary for linux-arm64-musl/],
    [{ arch: 'riscv64' }, /no prebuilt binary for linux-riscv64-glibc/],
    [{ arch: 'ia32' }, /no prebuilt binary for linux-ia32-glibc/],
  ])('%o has no binary and says why', (over, reason) => {
    const choice = chooseBinary(host(over));
    expect(choice).toEqual({ reason: expect.stringMatching(reason) });
  });

  it('HALFOPEN_SOCKOPT_BINARY wins over the platform, even where nothing is prebuilt', () => {
    expect(
      chooseBinary(host({ platform: 'darwin', arch: 'arm64', binaryEnv: '/app/sockopt.node' })),
    ).toEqual({ file: '/app/sockopt.node' });
  });

  it('a HALFOPEN_SOCKOPT_BINARY that does not exist is a reason naming it', () => {
    const choice = chooseBinary(host({ binaryEnv: '/nope.node', exists: () => false }));
    expect(choice).toEqual({ reason: expect.stringContaining('/nope.node') });
  });

  it('a prebuild left behind (bundled app) says how to keep it', () => {
    const choice = chooseBinary(host({ exists: () => false }));
    expect(choice).toEqual({ reason: expect.stringMatching(/missing.*HALFOPEN_SOCKOPT_BINARY/) });
  });

  it('names platforms as support() reports them', () => {
    expect(platformName({ platform: 'linux', arch: 'x64', libc: 'musl' })).toBe('linux-x64-musl');
    expect(platformName({ platform: 'darwin', arch: 'arm64' })).toBe('darwin-arm64');
  });
});

describe('detectLibc', () => {
  it('says glibc for this process, and nothing off Linux', () => {
    expect(detectLibc()).toBe('glibc');
    expect(detectLibc('darwin')).toBeUndefined();
  });

  it('reads musl from the mapped libraries (a musl process maps ld-musl)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'halfopen-maps-'));
    try {
      const maps = join(dir, 'maps');
      writeFileSync(
        maps,
        '7f0000000000-7f0000001000 r-xp 00000000 08:01 123 /lib/ld-musl-x86_64.so.1\n',
      );
      expect(detectLibc('linux', maps)).toBe('musl');
      writeFileSync(
        maps,
        '7f0000000000-7f0000001000 r-xp 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6\n',
      );
      expect(detectLibc('linux', maps)).toBe('glibc');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('loadNative', () => {
  it('a load error becomes a reason, never a throw', () => {
    const loaded = loadNative(host({}), () => {
      throw new Error('boom');
    });
    expect(loaded).toMatchObject({ native: undefined, reason: expect.stringContaining('boom') });
  });

  it('a file that is not the sockopt binary is refused', () => {
    const loaded = loadNative(host({}), () => ({}));
    expect(loaded.native).toBeUndefined();
    expect(loaded.reason).toMatch(/not the sockopt binary/);
  });

  it('the arm64 binary on this x64 machine fails to load and says so', () => {
    if (process.arch !== 'x64') throw new Error('this test expects an x64 machine');
    const loaded = loadNative(
      host({ arch: 'arm64', prebuildsDir: prebuilds, exists: () => true }),
      requireBinary,
    );
    expect(loaded.native).toBeUndefined();
    expect(loaded.reason).toMatch(/loading .*linux-arm64\/sockopt\.node failed/);
  });
});

describe('the prebuilt binaries (built from native/sockopt.c by scripts/prebuild.mjs)', () => {
  it('builds all three', () => {
    expect(PREBUILT).toEqual(['linux-x64', 'linux-x64-musl', 'linux-arm64']);
  });

  it.each([
    ['linux-x64', 62],
    ['linux-x64-musl', 62],
    ['linux-arm64', 183],
  ])(
    '%s is a 64-bit little-endian shared object for machine %i exporting the N-API entry',
    (tag, machine) => {
      const elf = readElf(binary(tag));
      expect(elf).toMatchObject({ class64: true, littleEndian: true, type: 3, machine });
      expect(elf.interpreter).toBeUndefined();
      expect(elf.defined).toContain('napi_register_module_v1');
      // N-API is left to the Node that loads it: nothing links against a libnode.
      expect(elf.undefinedSymbols).toContain('napi_create_function');
      expect(elf.needed.filter((n) => /node/.test(n))).toEqual([]);
    },
  );

  it('the glibc binaries ask only for old glibc symbol versions (x64 2.2.5, arm64 2.17)', () => {
    expect(readElf(binary('linux-x64')).needed).toEqual(['libc.so.6']);
    expect(readElf(binary('linux-x64')).versionsNeeded).toEqual(['GLIBC_2.2.5']);
    expect(readElf(binary('linux-arm64')).needed).toEqual(['libc.so.6']);
    expect(readElf(binary('linux-arm64')).versionsNeeded).toEqual(['GLIBC_2.17']);
  });

  it('the musl binary needs no glibc: no versioned symbols, no libc.so.6', () => {
    const elf = readElf(binary('linux-x64-musl'));
    expect(elf.versionsNeeded).toEqual([]);
    // musl's loader serves "libc.so" (and libc.musl-*.so.1) from itself.
    expect(elf.needed).toEqual(['libc.so']);
  });
});

describe('the musl binary under musl', () => {
  // No musl Node here, but Debian's musl-tools ship musl's dynamic loader: a host program built
  // with musl-gcc, defining the N-API functions the binary imports (the ELF says which),
  // dlopens it with RTLD_NOW (every symbol resolved, libc.so served by musl itself) and calls
  // its N-API entry point.
  it('loads with every symbol resolved and registers its module', () => {
    const dir = mkdtempSync(join(tmpdir(), 'halfopen-musl-'));
    try {
      const napi = readElf(binary('linux-x64-musl')).undefinedSymbols.filter((n) =>
        n.startsWith('napi_'),
      );
      expect(napi.length).toBeGreaterThan(3);
      writeFileSync(
        join(dir, 'host.c'),
        `#include <dlfcn.h>
#include <stdio.h>
${napi.map((n) => `int ${n}(void) { return 0; }`).join('\n')}
int main(int argc, char** argv) {
  void* h = dlopen(argv[1], RTLD_NOW);
  if (!h) { printf("dlopen: %s\\n", dlerror()); return 1; }
  void* (*reg)(void*, void*) = (void* (*)(void*, void*))dlsym(h, "napi_register_module_v1");
  int exports = 0;
  if (!reg || reg(0, &exports) != &exports) { printf("no module\\n"); return 1; }
  printf("registered\\n");
  return 0;
}
`,
      );
      const cc = spawnSync(
        'musl-gcc',
        ['-rdynamic', '-o', join(dir, 'host'), join(dir, 'host.c')],
        {
          encoding: 'utf8',
        },
      );
      if (cc.error || cc.status !== 0) {
        throw new Error(
          `musl-gcc (Debian musl-tools, installed by scripts/setup-system.sh) could not build the host: ${cc.error?.message ?? cc.stderr}`,
        );
      }
      expect(existsSync('/lib/ld-musl-x86_64.so.1')).toBe(true);
      const run = spawnSync(join(dir, 'host'), [binary('linux-x64-musl')], { encoding: 'utf8' });
      expect(run.stdout.trim()).toBe('registered');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('support() in a fresh process', () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const run = (env: Record<string, string>, code: string) =>
    JSON.parse(
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
        cwd: root,
        env: { ...process.env, ...env },
        encoding: 'utf8',
      }),
    );
  const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));

  it('HALFOPEN_SOCKOPT_BINARY naming a missing file: the import works, support says why, calls degrade as documented', () => {
    const out = run(
      { HALFOPEN_SOCKOPT_BINARY: '/nonexistent/sockopt.node' },
      `import net from 'node:net';
       import dc from 'node:diagnostics_channel';
       const loads = [];
       dc.subscribe('halfopen:sockopt:load', (m) => loads.push(m));
       const m = await import(${JSON.stringify(entry)});
       const s = new net.Socket();
       const srv = net.createServer().listen(0, '127.0.0.1');
       await new Promise((r) => srv.once('listening', r));
       const c = net.connect(srv.address().port, '127.0.0.1');
       await new Promise((r) => c.once('connect', r));
       let code;
       try { m.setSockopts(c, { count: 3 }); } catch (e) { code = e.code; }
       const info = m.tcpInfo(c);
       // A handle without an fd, as every socket has on Windows: the platform's answer, not
       // "destroyed".
       const windowsLike = { _handle: { fd: -1 } };
       let windowsCode;
       try { m.getSockopts(windowsLike); } catch (e) { windowsCode = e.code; }
       const windows = [windowsCode, m.tcpInfo(windowsLike) === undefined, m.sendQueueBytes(windowsLike) === undefined];
       m.support();
       c.destroy(); srv.close(); s.destroy();
       console.log(JSON.stringify({ support: m.support(), code, info: info === undefined, windows, loads }));`,
    );
    expect(out.support).toMatchObject({ native: false, tcpInfo: false, userTimeout: false });
    expect(out.support.reason).toContain('/nonexistent/sockopt.node');
    expect(out.code).toBe('HALFOPEN_ERR_SOCKOPT_UNSUPPORTED');
    expect(out.info).toBe(true);
    expect(out.windows).toEqual(['HALFOPEN_ERR_SOCKOPT_UNSUPPORTED', true, true]);
    // Said once, however many calls.
    expect(out.loads).toHaveLength(1);
    expect(out.loads[0].native).toBe(false);
  });

  it('HALFOPEN_SOCKOPT_BINARY naming a copy of the binary loads that copy', () => {
    const dir = mkdtempSync(join(tmpdir(), 'halfopen-sockopt-'));
    try {
      const copy = join(dir, 'sockopt.node');
      copyFileSync(binary('linux-x64'), copy);
      const out = run(
        { HALFOPEN_SOCKOPT_BINARY: copy },
        `const m = await import(${JSON.stringify(entry)}); console.log(JSON.stringify(m.support()));`,
      );
      expect(out).toMatchObject({ native: true, binary: copy, tcpInfo: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
