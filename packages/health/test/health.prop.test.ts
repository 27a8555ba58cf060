import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CheckResult, type CheckState, Health, type Probe } from '../src/index.js';

const STATES: CheckState[] = ['healthy', 'degraded', 'failing'];

interface CheckModel {
  name: string;
  readiness: boolean;
  liveness: boolean;
  failAfter: number;
  recoverAfter: number;
  state: CheckState;
  failures: number;
  passes: number;
  live: boolean;
}

interface Real {
  health: Health;
  next: Map<string, CheckState>;
}

/** The documented rules, written plainly: what one more result does to a check. */
function record(m: CheckModel, state: CheckState): void {
  m.state = state;
  if (state === 'failing') {
    m.failures++;
    m.passes = 0;
    if (m.failures >= m.failAfter) m.live = false;
  } else {
    m.passes++;
    m.failures = 0;
    if (!m.live && m.passes >= m.recoverAfter) m.live = true;
  }
}

function expectAgrees(model: CheckModel[], real: Real): void {
  const ready = model.every((m) => !m.readiness || m.state !== 'failing');
  const live = model.every((m) => !m.liveness || m.live);
  for (const [probe, ok] of [
    ['readiness', ready],
    ['liveness', live],
  ] as Array<[Probe, boolean]>) {
    const r = real.health.report(probe);
    expect(r.status).toBe(ok ? 200 : 503);
    const body = JSON.parse(r.body);
    expect(body.ok).toBe(ok);
    expect(
      body.checks.map((c: { state: string; live: boolean; failures: number }) => [
        c.state,
        c.live,
        c.failures,
      ]),
    ).toEqual(model.map((m) => [m.state, m.live, m.failures]));
  }
}

class Evaluate implements fc.AsyncCommand<CheckModel[], Real> {
  constructor(
    readonly index: number,
    readonly state: CheckState,
  ) {}
  check = () => true;
  async run(model: CheckModel[], real: Real): Promise<void> {
    const m = model[this.index % model.length]!;
    real.next.set(m.name, this.state);
    await real.health.runNow(m.name);
    record(m, this.state);
    expectAgrees(model, real);
  }
  toString = () => `evaluate(${this.index}, ${this.state})`;
}

class Probe_ implements fc.AsyncCommand<CheckModel[], Real> {
  constructor(readonly probe: Probe) {}
  check = () => true;
  async run(model: CheckModel[], real: Real): Promise<void> {
    // Reports are answered from cache: asking again changes nothing.
    const a = real.health.report(this.probe);
    expect(real.health.report(this.probe)).toBe(a);
    expectAgrees(model, real);
  }
  toString = () => `report(${this.probe})`;
}

const checkSpec = fc.record({
  readiness: fc.boolean(),
  liveness: fc.boolean(),
  failAfter: fc.integer({ min: 1, max: 4 }),
  recoverAfter: fc.integer({ min: 1, max: 4 }),
  first: fc.constantFrom(...STATES),
});

describe('Health state machine', () => {
  it('readiness, liveness and every check agree with the model through any sequence of results', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(checkSpec, { minLength: 1, maxLength: 4 }),
        fc.commands(
          [
            fc
              .tuple(fc.nat(), fc.constantFrom(...STATES))
              .map(([i, s]) => new Evaluate(i, s) as fc.AsyncCommand<CheckModel[], Real>),
            fc.constantFrom<Probe>('readiness', 'liveness').map((p) => new Probe_(p)),
          ],
          { maxCommands: 40 },
        ),
        async (specs, cmds) => {
          const health = new Health({ intervalMs: 3_600_000 });
          const next = new Map<string, CheckState>();
          const model: CheckModel[] = specs.map((s, i) => {
            const name = `c${i}`;
            next.set(name, s.first);
            health.add(name, () => ({ state: next.get(name)!, reason: 'scripted' }), {
              readiness: s.readiness,
              liveness: s.liveness,
              failAfter: s.failAfter,
              recoverAfter: s.recoverAfter,
            });
            const m: CheckModel = {
              name,
              readiness: s.readiness,
              liveness: s.liveness,
              failAfter: s.failAfter,
              recoverAfter: s.recoverAfter,
              state: 'healthy',
              failures: 0,
              passes: 0,
              live: true,
            };
            return m;
          });
          try {
            await health.runNow(); // joins the first evaluation add() started
            for (const [i, s] of specs.entries()) record(model[i]!, s.first);
            await fc.asyncModelRun(() => ({ model, real: { health, next } }), cmds);
          } finally {
            health.close();
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('liveness fails once failAfter consecutive results failed, and never without such a run before', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.constantFrom(...STATES), { maxLength: 30 }),
        async (failAfter, results) => {
          const h = new Health({ intervalMs: 3_600_000, failAfter });
          let next: CheckState = 'healthy';
          h.add('c', () => ({ state: next }), { liveness: true });
          await h.runNow();
          let run = 0;
          let longest = 0;
          for (const s of results) {
            next = s;
            await h.runNow('c');
            run = s === 'failing' ? run + 1 : 0;
            longest = Math.max(longest, run);
            if (run >= failAfter) expect(h.report('liveness').status).toBe(503);
            if (longest < failAfter) expect(h.report('liveness').status).toBe(200);
          }
          h.close();
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('Health under concurrent probes and evaluations', () => {
  it('every report is consistent, each check ends with its last answer, and close leaves nothing pending', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.constantFrom(...STATES), { minLength: 1, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { maxLength: 12 }),
        fc.boolean(),
        async (s, firsts, ops, closeEarly) => {
          const health = new Health({ intervalMs: 3_600_000, budgetMs: 3_600_000 });
          const answered = new Map<string, CheckState>();
          let counter = 0;
          firsts.forEach((_, i) => {
            const name = `c${i}`;
            health.add(name, () => {
              // Each call answers a state of its own, delivered when the scheduler says.
              const state = STATES[(i + counter++) % 3]!;
              return s
                .schedule(Promise.resolve({ state, reason: `call ${counter}` }), name)
                .then((r: CheckResult) => {
                  answered.set(name, r.state);
                  return r;
                });
            });
          });
          const settled: Array<Promise<unknown>> = [];
          const reports: Array<{ status: number; body: string }> = [];
          for (const [n, isProbe] of ops) {
            if (isProbe) {
              settled.push(
                s.schedule(Promise.resolve(), 'probe').then(() => {
                  reports.push(health.report('readiness'));
                }),
              );
            } else {
              const name = `c${n % firsts.length}`;
              settled.push(
                s
                  .schedule(Promise.resolve(), `runNow ${name}`)
                  .then(() => (health.closed ? undefined : health.runNow(name)))
                  .catch((e: { code?: string }) => {
                    expect(e.code).toBe('HALFOPEN_ERR_HEALTH_CLOSED');
                  }),
              );
            }
          }
          if (closeEarly)
            settled.push(s.schedule(Promise.resolve(), 'close').then(() => health.close()));
          await s.waitAll();
          let timer: NodeJS.Timeout | undefined;
          const outcome = await Promise.race([
            Promise.allSettled(settled).then(() => 'settled'),
            new Promise((r) => {
              timer = setTimeout(r, 1000, 'still pending');
            }),
          ]);
          clearTimeout(timer);
          expect(outcome).toBe('settled');
          for (const r of reports) {
            const body = JSON.parse(r.body);
            const failed = body.checks.some(
              (c: { state: string }) => c.state === 'failing' || c.state === 'unknown',
            );
            expect(r.status).toBe(failed || body.closed ? 503 : 200);
          }
          if (!health.closed) {
            for (const c of health.checks()) expect(c.state).toBe(answered.get(c.name));
          }
          health.close();
          expect(health.report().status).toBe(503);
        },
      ),
      { numRuns: 300 },
    );
  });
});
