/**
 * The run executor (coordinator/run.ts) end to end in memory: the real Run over fake connections
 * and simulated workers (tests/helpers/fake-workers.ts), a fake clock, no sockets. Each scenario
 * is one the multi-process tests find by log lines; here the outcome is asserted directly: the
 * generations formed, the ranks that ended, and every sample trained exactly once per epoch.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Run, type RunOutcome } from '../../src/coordinator/run.js';
import { RunEvents } from '../../src/coordinator/run-events.js';
import type { DataService } from '../../src/coordinator/data-service.js';
import type { CoordinatorConfig } from '../../src/shared/config/config.js';
import { createLogger } from '../../src/shared/base/logger.js';
import { rankShare, type PlannedStep } from '../../src/shared/data/sampler.js';
import { resolveOptimizer } from '../../src/shared/optim/index.js';
import { freshState, adamParams } from '../helpers/train-state.js';
import { FakeClock } from '../helpers/coordinator-fakes.js';
import { FAKE_MODEL, FakeWorld } from '../helpers/fake-workers.js';

const SIZE = 400; // samples; batch 4 per rank: 50 steps per epoch for two ranks

function config(over: Partial<CoordinatorConfig>): CoordinatorConfig {
  return {
    host: '127.0.0.1', port: 0, minWorkers: 2, maxWorkers: 4, job: 'regression-mlp', epochs: 2, batchSize: 4, lr: 1e-3, seed: 1, output: null,
    checksumEvery: 3, stepTimeoutMs: 60_000, rendezvousTimeoutMs: 60_000, rendezvousGraceMs: 0, checkpointEvery: 4, resume: null, logLevel: 'silent',
    onNonfinite: 'skip', maxNonfiniteSkips: 3, security: {} as CoordinatorConfig['security'], ...over,
  };
}

/** A data service over SIZE samples in order (the coordinator only plans positions here). */
const data = {
  size: SIZE, fingerprint: 'data-fp',
  indices: (p: PlannedStep, rank: number) => {
    const s = rankShare(p, rank);
    return Uint32Array.from({ length: s.length }, (_, i) => s.start + i);
  },
  rows: (idx: Uint32Array) => ({ x: new Float32Array(idx.length), y: new Float32Array(idx.length) }),
} as unknown as DataService;

function run(world: FakeWorld, over: Partial<CoordinatorConfig> = {}, clock: () => number = new FakeClock().now): Run {
  const log = createLogger('coordinator', 'silent');
  return new Run({
    cfg: config(over), jobName: 'fake', server: world.server, data, log, events: new RunEvents([], log), trainParams: adamParams({ epochs: 2, batchSize: 4 }),
    fingerprint: 'run-fp', resume: null, initial: freshState(FAKE_MODEL.paramCount), lrAt: () => 1e-3, optimizer: resolveOptimizer({ lr: 1e-3 }),
    modelFingerprint: FAKE_MODEL, evaluate: () => ({ test: { loss: 1, accuracy: null, outputs: {} }, validation: null }), saveModel: async () => {}, clock,
  });
}

/** Every sample of both epochs went into exactly one applied step. */
function expectEachSampleOnce(out: RunOutcome): void {
  const r = out.accounting.report(2);
  expect({ dup: r.duplicateSamples, missing: r.missingSamples, perEpoch: r.samplesPerEpoch }).toEqual({ dup: 0, missing: 0, perEpoch: [SIZE, SIZE] });
  expect(out.finalState.epoch).toBe(2);
}

// In memory every scenario ends in well under a second; a hang is a failure, not a slow machine.
describe('run executor, in memory', { timeout: 20_000 }, () => {
  it('two workers joining before training train the whole run in one generation', async () => {
    const world = new FakeWorld();
    const a = world.connect(1);
    const b = world.connect(2);
    const out = await run(world).execute();
    expect([out.generations, out.workers, out.finalState.step, out.committedStepsLost]).toEqual([1, 2, 100, 0]);
    expect([a.rank, b.rank]).toEqual([0, 1]);
    expectEachSampleOnce(out);
  });

  it('a worker joining mid-run is admitted at a step boundary: generation 2 has three ranks and no sample is trained twice', async () => {
    const world = new FakeWorld();
    const a = world.connect(1);
    world.connect(2);
    let c: ReturnType<FakeWorld['connect']> | null = null;
    a.afterReport = (step) => {
      if (step === 2 && !c) c = world.connect(3);
    };
    const out = await run(world).execute();
    expect([out.generations, out.workers]).toEqual([2, 3]);
    expect(c!.rank).toBe(2);
    expect(c!.reported.length).toBeGreaterThan(0);
    expectEachSampleOnce(out);
  });

  it('race: a join arriving while a generation is forming waits for the next generation', async () => {
    const world = new FakeWorld();
    const a = world.connect(1);
    world.connect(2);
    let c: ReturnType<FakeWorld['connect']> | null = null;
    a.onStart = (g) => {
      if (g === 1) c = world.connect(3);
    };
    const out = await run(world).execute();
    expect(out.generations).toBe(2);
    expect(c!.generation).toBe(2);
    expectEachSampleOnce(out);
  });

  it('a loss mid-step: the survivors pause, adopt the newest state and finish without losing a committed step', async () => {
    const world = new FakeWorld();
    world.connect(1);
    world.connect(2);
    const c = world.connect(3);
    c.dieAtStep = 3;
    const out = await run(world, { minWorkers: 2, maxWorkers: 3, rendezvousGraceMs: 1 }).execute();
    expect([out.generations, out.workers, out.committedStepsLost]).toEqual([2, 2, 0]);
    expect(Math.max(...c.reported)).toBe(2);
    expectEachSampleOnce(out);
  });

  it('race: a loss during the pause drops that worker too, and the last survivor finishes alone', async () => {
    const world = new FakeWorld();
    world.connect(1);
    const b = world.connect(2);
    const c = world.connect(3);
    c.dieAtStep = 3;
    b.dieOnPause = true;
    const out = await run(world, { minWorkers: 1, maxWorkers: 3, rendezvousGraceMs: 1 }).execute();
    expect([out.generations, out.workers, out.committedStepsLost]).toEqual([2, 1, 0]);
    expectEachSampleOnce(out);
  });

  it('race: a duplicate step report is dropped; it neither commits a step early nor ends the generation', async () => {
    const world = new FakeWorld();
    // Rank 0 reports first: its duplicate arrives while rank 1's report of that step is missing.
    const a = world.connect(1);
    world.connect(2);
    a.duplicateAt = 1;
    const out = await run(world).execute();
    expect(a.reported.filter((s) => s === 1).length).toBe(2);
    expect([out.generations, out.workers]).toEqual([1, 2]);
    expectEachSampleOnce(out);
  });

  it('a run below --min-workers after losses waits for a newcomer, then goes on with it', async () => {
    const world = new FakeWorld();
    world.connect(1);
    const b = world.connect(2);
    b.dieAtStep = 4;
    const r = run(world, { minWorkers: 2, maxWorkers: 2 });
    let settled = false;
    const done = r.execute().finally(() => (settled = true));
    // One member left is below --min-workers: the run must neither go on alone nor give up.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    const c = world.connect(3);
    const out = await done;
    expect([out.generations, out.workers]).toEqual([2, 2]);
    expect(c.generation).toBe(2);
    expectEachSampleOnce(out);
  });

  describe('with fake timers', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('a stall: the rank that froze mid-step (no report, no pong) is blamed at --step-timeout and evicted; the others go on', async () => {
      // The timers the run waits with and the clock its decisions read are both moved by hand.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
      const world = new FakeWorld();
      const stopPongs = world.pongs(2_000);
      world.connect(1);
      world.connect(2);
      const c = world.connect(3);
      c.freezeAtStep = 3;
      let settled = false;
      const done = run(world, { minWorkers: 2, maxWorkers: 3, rendezvousGraceMs: 1, stepTimeoutMs: 30_000 }, () => Date.now()).execute().finally(() => (settled = true));
      await vi.advanceTimersByTimeAsync(29_000);
      expect(settled).toBe(false);
      expect(c.conn!.open).toBe(true); // not blamed before --step-timeout
      await vi.advanceTimersByTimeAsync(2_000);
      expect(c.conn!.open).toBe(false);
      await vi.advanceTimersByTimeAsync(1_000);
      const out = await done;
      stopPongs();
      expect([out.generations, out.workers, out.committedStepsLost]).toEqual([2, 2, 0]);
      expect(Math.max(...c.reported)).toBe(2);
      expectEachSampleOnce(out);
    });
  });
});
