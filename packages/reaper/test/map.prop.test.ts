import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { ConnectionMap, type Lease, type ReapReason } from '../src/index.js';

// The map against a plain reference model with a fake clock: same membership, same reaps
// with the same reasons; a leased entry is never closed while leased; no value closed twice;
// an identity-checked delete never removes a replacement.

const KEYS = ['a', 'b', 'c', 'd'];
const IDLE = 100;
const LIFE = 250;

interface Conn {
  id: number;
}
interface ModelEntry {
  conn: Conn;
  createdAt: number;
  lastUsed: number;
  leases: number;
}
class Model {
  t = 0;
  entries = new Map<string, ModelEntry>();
  leased = new Map<Conn, number>(); // leases on values no longer in the map
  reaps: string[] = [];
  closes: string[] = [];
  nextId = 1;

  reap(key: string, e: ModelEntry, reason: ReapReason) {
    this.entries.delete(key);
    this.reaps.push(`${key}=${e.conn.id}:${reason}`);
    if (e.leases > 0) this.leased.set(e.conn, e.leases);
    else this.closes.push(`${e.conn.id}:${reason}`);
    reasons.set(e.conn, reason);
  }
  /** Time passes; what is due by each moment is reaped then (idle in LRU order, then lifetime). */
  advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      let due = Number.POSITIVE_INFINITY;
      for (const e of this.entries.values()) {
        if (e.leases === 0) due = Math.min(due, e.lastUsed + IDLE);
        due = Math.min(due, e.createdAt + LIFE);
      }
      if (due > end) break;
      this.t = due;
      const idle = [...this.entries]
        .filter(([, e]) => e.leases === 0 && this.t - e.lastUsed >= IDLE)
        .sort((x, y) => x[1].lastUsed - y[1].lastUsed);
      for (const [k, e] of idle) this.reap(k, e, 'idle');
      const old = [...this.entries]
        .filter(([, e]) => this.t - e.createdAt >= LIFE)
        .sort((x, y) => x[1].createdAt - y[1].createdAt);
      for (const [k, e] of old) this.reap(k, e, 'lifetime');
    }
    this.t = end;
  }
}
const reasons = new Map<Conn, ReapReason>();

interface Real {
  map: ConnectionMap<string, Conn>;
  reaps: string[];
  closes: string[];
  leases: Array<{ lease: Lease<Conn>; key: string; conn: Conn; released: boolean }>;
  closedWhileLeased: string[];
}
type Cmd = fc.AsyncCommand<Model, Real>;

const check = (m: Model, r: Real) => {
  expect(KEYS.filter((k) => r.map.has(k))).toEqual(KEYS.filter((k) => m.entries.has(k)));
  expect(r.map.size).toBe(m.entries.size);
  for (const [k, e] of m.entries) expect(r.map.peek(k)).toBe(e.conn);
  expect([...r.reaps].sort()).toEqual([...m.reaps].sort());
  expect([...r.closes].sort()).toEqual([...m.closes].sort());
  expect(new Set(r.closes.map((c) => c.split(':')[0])).size).toBe(r.closes.length);
  expect(r.closedWhileLeased).toEqual([]);
};
const cmd = (name: string, run: (m: Model, r: Real) => void | Promise<void>): Cmd => ({
  check: () => true,
  async run(m, r) {
    await run(m, r);
    check(m, r);
  },
  toString: () => name,
});

const key = fc.constantFrom(...KEYS);
const commands = [
  key.map((k) =>
    cmd(`set(${k})`, (m, r) => {
      const conn = { id: m.nextId++ };
      const old = m.entries.get(k);
      if (old) m.reap(k, old, 'removed');
      m.entries.set(k, { conn, createdAt: m.t, lastUsed: m.t, leases: 0 });
      r.map.set(k, conn);
    }),
  ),
  key.map((k) =>
    cmd(`get(${k})`, (m, r) => {
      const e = m.entries.get(k);
      if (e && e.leases === 0) e.lastUsed = m.t;
      expect(r.map.get(k)).toBe(e?.conn);
    }),
  ),
  fc.tuple(key, fc.boolean()).map(([k, withConn]) =>
    cmd(`delete(${k}${withConn ? ', stale conn' : ''})`, (m, r) => {
      const e = m.entries.get(k);
      // With a stale value (never the current one), nothing may be removed.
      const stale = { id: -1 };
      if (withConn) {
        expect(r.map.delete(k, stale)).toBe(false);
        return;
      }
      if (e) m.reap(k, e, 'removed');
      expect(r.map.delete(k)).toBe(!!e);
    }),
  ),
  key.map((k) =>
    cmd(`acquire(${k})`, async (m, r) => {
      const e = m.entries.get(k);
      if (!e) return;
      e.leases++;
      e.lastUsed = m.t;
      const lease = await r.map.acquire(k);
      r.leases.push({ lease, key: k, conn: e.conn, released: false });
    }),
  ),
  fc.nat().map((i) =>
    cmd(`release(#${i})`, (m, r) => {
      const open = r.leases.filter((l) => !l.released);
      const l = open[i % Math.max(1, open.length)];
      if (!l) return;
      l.released = true;
      const e = m.entries.get(l.key);
      if (e && e.conn === l.conn) {
        e.leases--;
        if (e.leases === 0) e.lastUsed = m.t;
      } else {
        const left = m.leased.get(l.conn)! - 1;
        m.leased.set(l.conn, left);
        if (left === 0) m.closes.push(`${l.conn.id}:${reasons.get(l.conn)}`);
      }
      l.lease.release();
    }),
  ),
  fc.subarray(KEYS).map((live) =>
    cmd(`retain([${live}])`, (m, r) => {
      for (const [k, e] of [...m.entries]) if (!live.includes(k)) m.reap(k, e, 'removed');
      r.map.retain(live);
    }),
  ),
  fc.integer({ min: 1, max: 150 }).map((ms) =>
    cmd(`advance(${ms})`, (m) => {
      m.advance(ms);
      vi.advanceTimersByTime(ms);
    }),
  ),
];

describe('ConnectionMap against a reference model (property)', () => {
  it('agrees on membership and on what is reaped and why; leases, single close, identity-checked delete', async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 60, size: 'medium' }), async (cmds) => {
        vi.useFakeTimers({ now: 0 });
        reasons.clear();
        const real: Real = {
          map: undefined as never,
          reaps: [],
          closes: [],
          leases: [],
          closedWhileLeased: [],
        };
        real.map = new ConnectionMap<string, Conn>({
          idleTimeoutMs: IDLE,
          maxLifetimeMs: LIFE,
          now: () => Date.now(),
          close: (c, reason) => {
            if (real.leases.some((l) => l.conn === c && !l.released))
              real.closedWhileLeased.push(String(c.id));
            real.closes.push(`${c.id}:${reason}`);
          },
        });
        real.map.on('reap', (k, c, info) => real.reaps.push(`${k}=${c.id}:${info.reason}`));
        try {
          await fc.asyncModelRun(() => ({ model: new Model(), real }), cmds);
        } finally {
          await real.map.close();
          vi.useRealTimers();
        }
      }),
    );
  });
});
