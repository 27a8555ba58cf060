// Finds and loads the prebuilt binary for this platform, in the manner of node-gyp-build:
// prebuilds/<platform>-<arch>[-musl]/sockopt.node beside the package's dist/ (or src/), or
// the file HALFOPEN_SOCKOPT_BINARY names. Never throws: a missing or broken binary becomes a
// reason that support() reports.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The native part's calls (native/sockopt.c). */
export interface Native {
  sockopts(
    fd: number,
    out: Int32Array,
    keepalive: number,
    idleSec: number,
    intervalSec: number,
    count: number,
    userTimeoutMs: number,
  ): number;
  tcpInfo(fd: number, out: Float64Array): number;
  sendQueue(fd: number): number;
  tcpInfoFields: number;
}

export type Libc = 'glibc' | 'musl';

/** What the choice depends on; injected in tests. */
export interface Host {
  platform: string;
  arch: string;
  /** Only meaningful on Linux. */
  libc?: Libc | undefined;
  /** HALFOPEN_SOCKOPT_BINARY, if set. */
  binaryEnv?: string | undefined;
  /** The package's prebuilds/ folder; undefined when it cannot be located (a CommonJS bundle). */
  prebuildsDir: string | undefined;
  exists(path: string): boolean;
}

/** Platforms a binary is built for: `<platform>-<arch>[-musl]`. */
export const PREBUILT = ['linux-x64', 'linux-x64-musl', 'linux-arm64'] as const;

/** `linux-x64-glibc`, `linux-x64-musl`, `darwin-arm64`: how support() names a platform. */
export function platformName(host: Pick<Host, 'platform' | 'arch' | 'libc'>): string {
  return host.platform === 'linux'
    ? `${host.platform}-${host.arch}-${host.libc ?? 'unknown-libc'}`
    : `${host.platform}-${host.arch}`;
}

/** The binary to load for `host`, or why there is none. */
export function chooseBinary(host: Host): { file: string } | { reason: string } {
  if (host.binaryEnv) {
    return host.exists(host.binaryEnv)
      ? { file: host.binaryEnv }
      : { reason: `HALFOPEN_SOCKOPT_BINARY names ${host.binaryEnv}, which does not exist` };
  }
  if (host.platform !== 'linux') {
    return {
      reason: `no native part for ${host.platform} (TCP_INFO, TCP_USER_TIMEOUT and the keepalive options are read and set on Linux only); prebuilt: ${PREBUILT.join(', ')}`,
    };
  }
  const tag = `linux-${host.arch}${host.libc === 'musl' ? '-musl' : ''}`;
  if (!(PREBUILT as readonly string[]).includes(tag)) {
    return {
      reason: `no prebuilt binary for ${platformName(host)}; prebuilt: ${PREBUILT.join(', ')} (build your own with scripts/prebuild.mjs and set HALFOPEN_SOCKOPT_BINARY)`,
    };
  }
  if (host.prebuildsDir === undefined) {
    return {
      reason: `cannot locate prebuilds/ for ${platformName(host)} (no import.meta.url: bundled as CommonJS?); copy prebuilds/${tag}/sockopt.node beside the bundle and set HALFOPEN_SOCKOPT_BINARY to it`,
    };
  }
  const file = `${host.prebuildsDir}/${tag}/sockopt.node`;
  return host.exists(file)
    ? { file }
    : {
        reason: `the binary for ${platformName(host)} is missing at ${file} (the package was packed without its prebuilds, or a bundler left them behind: copy prebuilds/ or set HALFOPEN_SOCKOPT_BINARY)`,
      };
}

/**
 * glibc or musl, for a Linux process; undefined elsewhere. First from the libraries mapped into
 * this process (/proc/self/maps, about a millisecond), then from the process report (its
 * header has glibcVersionRuntime under glibc only; about 45 ms), then from the system.
 */
export function detectLibc(
  platform = process.platform,
  maps = '/proc/self/maps',
): Libc | undefined {
  if (platform !== 'linux') return undefined;
  try {
    const mapped = readFileSync(maps, 'latin1');
    if (/\/ld-musl-|\/libc\.musl-/.test(mapped)) return 'musl';
    if (/\/libc\.so\.6|\/libc-2\.\d+\.so/.test(mapped)) return 'glibc';
  } catch {
    // no /proc: ask the report
  }
  try {
    const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })
      ?.header;
    if (header) return header.glibcVersionRuntime ? 'glibc' : 'musl';
  } catch {
    // no report available: fall back to the file system
  }
  if (existsSync('/etc/alpine-release')) return 'musl';
  try {
    return readFileSync('/usr/bin/ldd', 'latin1').includes('musl') ? 'musl' : 'glibc';
  } catch {
    return 'glibc';
  }
}

/** The prebuilds/ folder: one level above this file's folder (src/ or dist/). */
export function defaultPrebuildsDir(): string | undefined {
  try {
    return fileURLToPath(new URL('../prebuilds', import.meta.url));
  } catch {
    return undefined; // import.meta.url is empty in a CommonJS bundle
  }
}

export interface Loaded {
  native: Native | undefined;
  file: string | undefined;
  reason: string | undefined;
  platform: string;
}

/** Chooses and loads; a load error (wrong arch, missing libc) becomes the reason. */
export function loadNative(host: Host, load: (file: string) => unknown): Loaded {
  const platform = platformName(host);
  const choice = chooseBinary(host);
  if ('reason' in choice)
    return { native: undefined, file: undefined, reason: choice.reason, platform };
  try {
    const native = load(choice.file) as Native;
    if (typeof native?.sockopts !== 'function' || typeof native.tcpInfo !== 'function') {
      return {
        native: undefined,
        file: choice.file,
        reason: `${choice.file} is not the sockopt binary (no sockopts/tcpInfo)`,
        platform,
      };
    }
    return { native, file: choice.file, reason: undefined, platform };
  } catch (err) {
    return {
      native: undefined,
      file: choice.file,
      reason: `loading ${choice.file} failed: ${(err as Error)?.message ?? String(err)}`,
      platform,
    };
  }
}

/** This process's host. */
export function currentHost(): Host {
  return {
    platform: process.platform,
    arch: process.arch,
    libc: detectLibc(),
    binaryEnv: process.env.HALFOPEN_SOCKOPT_BINARY || undefined,
    prebuildsDir: defaultPrebuildsDir(),
    exists: existsSync,
  };
}

/** require() for a .node file, from ESM and CJS builds alike. */
export function requireBinary(file: string): unknown {
  // import.meta.url is empty in a CommonJS bundle; the path is absolute either way.
  return createRequire(import.meta.url || `${process.cwd()}/`)(file);
}
