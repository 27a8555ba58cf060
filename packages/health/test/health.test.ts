import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertNoLeaks, leakSnapshot } from '@halfopen/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Check, type CheckResult, Health, healthHandler } from '../src/index.js';

const healthy: CheckResult = { state: 'healthy', reason: 'fine', evidence: { n: 1 } };
const failingResult: CheckResult = { state: 'failing', reason: 'broken', evidence: { n: 0 } };

/** A check whose next answer the test sets, counting its calls. */
function scripted(first: CheckResult = healthy) {
  const s: { next: CheckResult; calls: number; check: Check } = {
    next: first,
    calls: 0,
    check: (() => {
      s.calls++;
      return s.next;
    }) as Check,
  };
  return s;
}

const body = (h: Health, probe: 'readiness' | 'liveness' = 'readiness') =>
  JSON.parse(h.report(probe).body);

describe('Health', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers 200 while every readiness check is healthy and 503 naming the check once one fails', async () => {
    const h = new Health({ intervalMs: 100 });
    const a = scripted();
    h.add('a', a.check).add('b', scripted().check);
    await h.runNow();
    expect(h.report().status).toBe(200);
    a.next = failingResult;
    await vi.advanceTimersByTimeAsync(100);
    const r = h.report('readiness');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body)).toMatchObject({
      ok: false,
      state: 'failing',
      reason: 'a: broken',
      checks: [
        { name: 'a', state: 'failing', reason: 'broken', evidence: { n: 0 } },
        { name: 'b', state: 'healthy' },
      ],
    });
    h.close();
  });

  it('is not ready before a check has answered once', async () => {
    const h = new Health({ intervalMs: 1000 });
    let answer!: (r: CheckResult) => void;
    h.add('slow', () => new Promise<CheckResult>((r) => (answer = r)));
    expect(h.report().status).toBe(503);
    expect(body(h).reason).toBe('slow: not checked yet');
    answer(healthy);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.report().status).toBe(200);
    h.close();
  });

  it('keeps a degraded check ready and alive, and says so', async () => {
    const h = new Health();
    h.add('d', scripted({ state: 'degraded', reason: 'slowish' }).check, { liveness: true });
    await h.runNow();
    expect(h.report('readiness')).toMatchObject({ status: 200, ok: true });
    expect(body(h)).toMatchObject({ state: 'degraded', reason: 'd: slowish' });
    expect(h.report('liveness').status).toBe(200);
    h.close();
  });

  it.each([
    [
      'throws',
      () => {
        throw new Error('disk gone');
      },
      'check threw Error: disk gone',
    ],
    ['rejects', () => Promise.reject(new RangeError('nope')), 'check threw RangeError: nope'],
    ['returns a string', () => 'ok', 'check returned "ok", not { state, reason }'],
    ['returns undefined', () => undefined, 'check returned undefined, not { state, reason }'],
    [
      'returns an unknown state',
      () => ({ state: 'fine' }),
      `check returned state "fine", not 'healthy', 'degraded' or 'failing'`,
    ],
    [
      'returns a thenable whose then() throws',
      () => ({
        // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is the point
        then() {
          throw new Error('then broke');
        },
      }),
      'check threw Error: then broke',
    ],
  ] as Array<[string, () => unknown, string]>)(
    'reports a check that %s as failing with that reason',
    async (_, check, reason) => {
      const h = new Health();
      h.add('c', check as unknown as Check);
      await h.runNow('c');
      expect(h.checks()[0]).toMatchObject({ state: 'failing', reason });
      expect(h.report().status).toBe(503);
      h.close();
    },
  );

  it('keeps evidence numbers, strings, flags and null (a key named __proto__ too), and drops the rest', async () => {
    const h = new Health();
    const evidence = JSON.parse(
      '{"n":1,"s":"a\\nb","ok":true,"none":null,"o":{"x":1},"__proto__":7}',
    );
    evidence.inf = Number.POSITIVE_INFINITY;
    h.add('e', () => ({ state: 'healthy', reason: 'r', evidence }));
    await h.runNow();
    expect(JSON.parse(h.report().body).checks[0].evidence).toEqual(
      JSON.parse('{"n":1,"s":"a b","ok":true,"none":null,"__proto__":7,"inf":"Infinity"}'),
    );
    h.close();
  });

  it('reports a check that never answers as failing after its budget, and never calls it twice at once', async () => {
    const h = new Health({ intervalMs: 1000, budgetMs: 200 });
    let calls = 0;
    let signal: AbortSignal | undefined;
    h.add('hung', (ctx) => {
      calls++;
      signal = ctx.signal;
      return new Promise<CheckResult>(() => {});
    });
    expect(h.report().status).toBe(503);
    await vi.advanceTimersByTimeAsync(200);
    expect(h.checks()[0]).toMatchObject({
      state: 'failing',
      reason: 'no answer within its budget of 200 ms',
    });
    expect(signal?.aborted).toBe(true);
    expect((signal!.reason as { code?: string }).code).toBe('HALFOPEN_ERR_HEALTH_BUDGET');
    await vi.advanceTimersByTimeAsync(3000);
    expect(calls).toBe(1);
    expect(h.checks()[0]).toMatchObject({ state: 'failing', failures: 4 });
    expect(h.checks()[0]!.reason).toMatch(/^still running after 3000 ms \(budget 200 ms\)$/);
    h.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('calls a check that answered late again at its next interval, and ignores the late answer', async () => {
    const h = new Health({ intervalMs: 1000, budgetMs: 100 });
    const answers: Array<(r: CheckResult) => void> = [];
    h.add('late', () => new Promise<CheckResult>((r) => answers.push(r)));
    await vi.advanceTimersByTimeAsync(100);
    answers[0]!(healthy); // after its budget
    await vi.advanceTimersByTimeAsync(0);
    expect(h.checks()[0]!.state).toBe('failing');
    await vi.advanceTimersByTimeAsync(900);
    expect(answers).toHaveLength(2);
    answers[1]!(healthy);
    await vi.advanceTimersByTimeAsync(0);
    expect(h.checks()[0]!.state).toBe('healthy');
    h.close();
  });

  it('fails liveness only after failAfter consecutive failures and recovers after recoverAfter passes', async () => {
    const h = new Health({ intervalMs: 100, failAfter: 3, recoverAfter: 2 });
    const c = scripted(failingResult);
    h.add('stuck', c.check, { liveness: true, readiness: false });
    await vi.advanceTimersByTimeAsync(0); // failure 1
    expect(h.report('liveness').status).toBe(200);
    expect(body(h, 'liveness').state).toBe('degraded');
    await vi.advanceTimersByTimeAsync(100); // failure 2
    expect(h.report('liveness').status).toBe(200);
    await vi.advanceTimersByTimeAsync(100); // failure 3
    expect(h.report('liveness').status).toBe(503);
    expect(body(h, 'liveness')).toMatchObject({ reason: 'stuck: broken' });
    c.next = healthy;
    await vi.advanceTimersByTimeAsync(100); // pass 1
    expect(h.report('liveness').status).toBe(503);
    await vi.advanceTimersByTimeAsync(100); // pass 2
    expect(h.report('liveness').status).toBe(200);
    // A readiness: false check never fails readiness.
    expect(h.report('readiness').status).toBe(200);
    h.close();
  });

  it('one failure between passes never fails liveness', async () => {
    const h = new Health({ intervalMs: 100, failAfter: 2 });
    const c = scripted(healthy);
    h.add('flaky', c.check, { liveness: true });
    for (let i = 0; i < 20; i++) {
      c.next = i % 2 ? failingResult : healthy;
      await vi.advanceTimersByTimeAsync(100);
      expect(h.report('liveness').status).toBe(200);
    }
    h.close();
  });

  it('answers probes from cached state: a thousand reports run no check and build one body', async () => {
    const h = new Health({ intervalMs: 60_000 });
    const c = scripted();
    h.add('c', c.check);
    await h.runNow();
    const first = h.report();
    for (let i = 0; i < 1000; i++) expect(h.report()).toBe(first);
    expect(c.calls).toBe(1); // runNow joined the evaluation add() started
    h.close();
  });

  it('publishes every state change of a check, and each flip of readiness or liveness', async () => {
    const changes: unknown[] = [];
    const statuses: unknown[] = [];
    const onChange = (m: unknown) => changes.push(m);
    const onStatus = (m: unknown) => statuses.push(m);
    diagnostics.subscribe('halfopen:health:change', onChange);
    diagnostics.subscribe('halfopen:health:status', onStatus);
    try {
      const h = new Health({ intervalMs: 100, name: 'push-node' });
      const c = scripted();
      h.add('c', c.check);
      await vi.advanceTimersByTimeAsync(0);
      c.next = failingResult;
      await vi.advanceTimersByTimeAsync(100);
      await vi.advanceTimersByTimeAsync(100); // still failing: no new change
      c.next = healthy;
      await vi.advanceTimersByTimeAsync(100);
      h.close();
      expect(changes).toMatchObject([
        { health: 'push-node', check: 'c', from: 'unknown', to: 'healthy' },
        { check: 'c', from: 'healthy', to: 'failing', reason: 'broken', evidence: { n: 0 } },
        { check: 'c', from: 'failing', to: 'healthy', reason: 'fine' },
      ]);
      expect(statuses).toEqual([
        { health: 'push-node', probe: 'readiness', ok: false, reason: 'c: not checked yet' },
        { health: 'push-node', probe: 'readiness', ok: true, reason: 'every check passes' },
        { health: 'push-node', probe: 'readiness', ok: false, reason: 'c: broken' },
        { health: 'push-node', probe: 'readiness', ok: true, reason: 'every check passes' },
        {
          health: 'push-node',
          probe: 'readiness',
          ok: false,
          reason: 'health closed: shutting down',
        },
      ]);
    } finally {
      diagnostics.unsubscribe('halfopen:health:change', onChange);
      diagnostics.unsubscribe('halfopen:health:status', onStatus);
    }
  });

  it('on close: readiness fails, timers are cleared, checks are aborted and disposed, runNow rejects', async () => {
    const h = new Health({ intervalMs: 100, budgetMs: 100 });
    let signal: AbortSignal | undefined;
    const dispose = vi.fn();
    const check = Object.assign(
      (ctx: { signal: AbortSignal }) => {
        signal = ctx.signal;
        return new Promise<CheckResult>(() => {});
      },
      { [Symbol.dispose]: dispose },
    );
    h.add('hung', check);
    const pending = h.runNow();
    h.close();
    await expect(pending).rejects.toMatchObject({ code: 'HALFOPEN_ERR_HEALTH_CLOSED' });
    await expect(h.runNow()).rejects.toMatchObject({ code: 'HALFOPEN_ERR_HEALTH_CLOSED' });
    expect(signal?.aborted).toBe(true);
    expect(dispose).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
    expect(h.report()).toMatchObject({ status: 503 });
    expect(body(h)).toMatchObject({ closed: true, reason: 'health closed: shutting down' });
    expect(() => h.add('late', scripted().check)).toThrow(/HALFOPEN_ERR_HEALTH_CLOSED/);
    h.close(); // idempotent
  });

  it('remove() stops a check and disposes it', async () => {
    const h = new Health({ intervalMs: 100 });
    const c = scripted(failingResult);
    const dispose = vi.fn();
    h.add('gone', Object.assign(c.check, { [Symbol.dispose]: dispose }));
    await vi.advanceTimersByTimeAsync(0);
    expect(h.report().status).toBe(503);
    expect(h.remove('gone')).toBe(true);
    expect(h.remove('gone')).toBe(false);
    expect(dispose).toHaveBeenCalledTimes(1);
    expect(h.report().status).toBe(200);
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.calls).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    h.close();
  });

  it('refuses a second check with the same name with a coded error', () => {
    const h = new Health();
    h.add('x', scripted().check);
    expect(() => h.add('x', scripted().check)).toThrow(
      expect.objectContaining({ code: 'HALFOPEN_ERR_HEALTH_DUPLICATE' }),
    );
    h.close();
  });

  it('names the option in every refusal of bad options', () => {
    expect(() => new Health({ intervalMs: -1 })).toThrow(/options\.intervalMs/);
    expect(() => new Health({ intervalMs: 100, budgetMs: 200 })).toThrow(/options\.budgetMs/);
    expect(() => new Health({ failAfter: 0 })).toThrow(/options\.failAfter/);
    expect(() => new Health({ intervalMS: 5 } as never)).toThrow(
      /did you mean options\.intervalMs/,
    );
    const h = new Health();
    expect(() => h.add('', scripted().check)).toThrow(/^name must/);
    expect(() => h.add('x', 5 as never)).toThrow(/^check must be a function/);
    expect(() => h.add('x', scripted().check, { liveness: 'yes' } as never)).toThrow(
      /options\.liveness/,
    );
    expect(() => h.report('startup' as never)).toThrow(/^probe must be/);
    // Not a cache lookup first: '__proto__' would find Object.prototype and return it as a report.
    expect(() => h.report('__proto__' as never)).toThrow(/^probe must be/);
    expect(() => healthHandler(h, { probe: 'x' as never })).toThrow(/options\.probe/);
    expect(h.names).toEqual([]);
    h.close();
  });
});

describe('healthHandler', () => {
  it('answers readiness and liveness over node:http with the JSON report, HEAD without a body', async () => {
    const before = leakSnapshot();
    const h = new Health({ intervalMs: 60_000 });
    const c = scripted(failingResult);
    h.add('c', c.check, { liveness: true, failAfter: 5 });
    await h.runNow();
    const ready = healthHandler(h);
    const live = healthHandler(h, { probe: 'liveness' });
    const server = http.createServer((req, res) =>
      req.url === '/livez' ? live(req, res) : ready(req, res),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r1 = await fetch(`${base}/readyz`);
      expect(r1.status).toBe(503);
      expect(r1.headers.get('content-type')).toMatch(/^application\/json/);
      expect(r1.headers.get('cache-control')).toBe('no-store');
      expect(await r1.json()).toMatchObject({ probe: 'readiness', reason: 'c: broken' });
      const r2 = await fetch(`${base}/livez`);
      expect(r2.status).toBe(200);
      expect(await r2.json()).toMatchObject({ probe: 'liveness', checks: [{ live: true }] });
      const r3 = await fetch(`${base}/readyz`, { method: 'HEAD' });
      expect(r3.status).toBe(503);
      expect(await r3.text()).toBe('');
    } finally {
      h.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
    await assertNoLeaks(before);
  });

  it('answers at once while a check hangs: the probe never waits on a check', async () => {
    const h = new Health({ intervalMs: 60_000, budgetMs: 60_000 });
    h.add('hung', () => new Promise<CheckResult>(() => {}));
    const server = http.createServer(healthHandler(h));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
        signal: AbortSignal.timeout(10_000), // far beyond the answer; the hung check's budget is 60 s
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ reason: 'hung: not checked yet' });
    } finally {
      h.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
