import { closeSync, existsSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { run } from './exec.js';

const require = createRequire(import.meta.url);

interface NativeNetns {
  enter(fd: number): void;
}
let native: NativeNetns | undefined;
function loadNative(): NativeNetns {
  native ??= require('../build/Release/netns.node') as NativeNetns;
  return native;
}

/** What the fault tier needs and this machine lacks; empty when everything is there. */
export function missingForNetns(): string[] {
  const missing: string[] = [];
  if (process.platform !== 'linux') missing.push(`Linux (this is ${process.platform})`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    missing.push('root (network namespaces and iptables need CAP_NET_ADMIN and CAP_SYS_ADMIN)');
  }
  const onPath = (bin: string) =>
    ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((d) => existsSync(`${d}/${bin}`));
  if (!onPath('ip')) missing.push('`ip` (Debian package iproute2)');
  if (!onPath('iptables')) missing.push('`iptables` (Debian package iptables)');
  try {
    loadNative();
  } catch (err) {
    missing.push(`the testkit's native setns addon (run the build): ${(err as Error).message}`);
  }
  return missing;
}

/** A rule added to a namespace's iptables; pass it to `Netns.remove`. */
export interface Rule {
  readonly chain: 'INPUT' | 'OUTPUT';
  readonly spec: readonly string[];
}

export interface Netns {
  readonly name: string;
  /** Runs a command inside the namespace (`ip netns exec NAME ...`). */
  exec(cmd: string, args: readonly string[]): Promise<string>;
  /** Drops TCP segments with RST set arriving at `port` (the peer never learns of the reset). */
  dropRst(port: number): Promise<Rule>;
  /** Drops every packet to and from `port` in both directions: a peer that vanished. */
  blackhole(port: number): Promise<Rule[]>;
  /** Removes rules added by `dropRst`/`blackhole`. */
  remove(rules: Rule | readonly Rule[]): Promise<void>;
  /** The iptables rules currently in the namespace (`iptables -S`). */
  rules(): Promise<string>;
}

let counter = 0;

/**
 * Runs `body` inside a fresh network namespace with only loopback, up. Every socket the
 * body creates on this thread lives in that namespace; the namespace is deleted afterwards
 * and the thread returns to its own. Throws, naming what is missing, when it cannot run.
 */
export async function withNetns<T>(body: (ns: Netns) => Promise<T>): Promise<T> {
  const missing = missingForNetns();
  if (missing.length > 0) {
    throw new Error(`withNetns cannot run here; missing: ${missing.join('; ')}`);
  }
  const name = `halfopen-${process.pid}-${++counter}`;
  await run('ip', ['netns', 'add', name]);
  const ns = makeNetns(name);
  let home = -1;
  let inside = -1;
  try {
    await ns.exec('ip', ['link', 'set', 'lo', 'up']);
    home = openSync('/proc/thread-self/ns/net', 'r');
    inside = openSync(`/run/netns/${name}`, 'r');
    loadNative().enter(inside);
    try {
      return await body(ns);
    } finally {
      loadNative().enter(home);
    }
  } finally {
    if (home >= 0) closeSync(home);
    if (inside >= 0) closeSync(inside);
    await run('ip', ['netns', 'del', name]);
  }
}

function makeNetns(name: string): Netns {
  const exec = (cmd: string, args: readonly string[]) =>
    run('ip', ['netns', 'exec', name, cmd, ...args]);
  const add = async (rule: Rule) => {
    await exec('iptables', ['-w', '-A', rule.chain, ...rule.spec]);
    return rule;
  };
  return {
    name,
    exec,
    dropRst: (port) =>
      add({
        chain: 'INPUT',
        spec: ['-p', 'tcp', '--dport', String(port), '--tcp-flags', 'RST', 'RST', '-j', 'DROP'],
      }),
    blackhole: async (port) => [
      await add({ chain: 'INPUT', spec: ['-p', 'tcp', '--dport', String(port), '-j', 'DROP'] }),
      await add({ chain: 'INPUT', spec: ['-p', 'tcp', '--sport', String(port), '-j', 'DROP'] }),
    ],
    remove: async (rules) => {
      for (const rule of Array.isArray(rules) ? rules : [rules]) {
        await exec('iptables', ['-w', '-D', rule.chain, ...rule.spec]);
      }
    },
    rules: () => exec('iptables', ['-S']),
  };
}
