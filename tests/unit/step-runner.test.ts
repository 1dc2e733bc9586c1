/**
 * The worker's step runner and worker loop, run in memory: a real Trainer on tfjs's CPU backend,
 * the in-process collective, and control links whose coordinator side is the test. No sockets,
 * no child processes; the clock is injected where the test reads timings.
 */
import { describe, expect, it } from 'vitest';
import type { Trainer } from '../../src/shared/engine/trainer.js';
import type { Collective } from '../../src/shared/collective/collective.js';
import { SoloCollective } from '../../src/shared/collective/collective.js';
import type { Replica } from '../../src/shared/engine/replica.js';
import { checksum } from '../../src/shared/kernels/flat.js';
import type { HelloMsg, StartMsg, StateMsg, StepDoneMsg } from '../../src/shared/protocol/protocol.js';
import { runGeneration, type GenerationEnd } from '../../src/worker/generation.js';
import { workerLoop } from '../../src/worker/worker-loop.js';
import { createLocalGroup } from '../helpers/local-collective.js';
import { batchFor, closableGroup, cpuTrainer, MemoryLink, quietLog, startFor } from '../helpers/worker-harness.js';
import { bits } from '../helpers/values.js';

interface Running {
  end: Promise<GenerationEnd>;
  replica: () => Replica;
}

/** Runs one generation of `start` on `link` with `ring`, as the worker does. */
function run(link: MemoryLink, trainer: Trainer, start: StartMsg, ring: Collective, clock?: () => number): Running {
  let held: Replica | null = null;
  const end = runGeneration({
    control: link, formRing: async () => ring, log: quietLog, localData: async () => null, setReplica: (r) => (held = r),
    compute: async () => ({ trainer, engine: { name: 'cpu', reason: 'test', device: 'cpu', threads: null } }), clock,
  }, start);
  return { end, replica: () => held! };
}

/** Lets every queued promise continuation run: the runner is then blocked on its next wait. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

const stateOf = async (link: MemoryLink): Promise<StateMsg> => (await link.sentWhere((m) => m.type === 'state')) as StateMsg;
const stepDone = async (link: MemoryLink, step: number): Promise<StepDoneMsg> =>
  (await link.sentWhere((m) => m.type === 'step-done' && m.step === step)) as StepDoneMsg;

describe('worker step runner, in memory', () => {
  it('runs a step as compute → reduce → update → report, timing each phase by the clock', async () => {
    const trainer = await cpuTrainer();
    const start = startFor(trainer, 0, 1);
    const initial = start.state.params.slice();
    const P = trainer.paramCount;
    const events: string[] = [];
    let now = 1000;
    let trained = false;
    let replica: () => Replica = () => undefined as unknown as Replica;
    // Each phase advances the fake clock by its own amount, and checks what the phase before it left.
    const compute = trainer.computeGradientsOf.bind(trainer);
    trainer.computeGradientsOf = async (...args) => {
      events.push('compute');
      now += 5;
      return compute(...args);
    };
    const setWeights = trainer.setWeights.bind(trainer);
    trainer.setWeights = (flat) => {
      if (trained) {
        events.push('update');
        expect(bits(replica().params)).not.toEqual(bits(initial));
        now += 3;
      }
      setWeights(flat);
    };
    const [inner] = createLocalGroup(1);
    const ring: Collective = {
      rank: 0, worldSize: 1, close: () => inner!.close(),
      allreduceSum: (buf, opts) => {
        events.push('reduce');
        // The whole fusion buffer, its loss and sample-count tail written by the compute; the update not yet applied.
        expect(buf.length).toBe(P + 2);
        expect(buf[P + 1]).toBe(8);
        expect(bits(replica().params)).toEqual(bits(initial));
        now += 7;
        return inner!.allreduceSum(buf, opts);
      },
    };
    const link = new MemoryLink();
    const report = link.report.bind(link);
    link.report = (msg) => {
      events.push('report');
      report(msg);
    };
    const g = run(link, trainer, start, ring, () => now);
    replica = g.replica;
    link.deliver({ type: 'go', generation: 1 });
    await settle();
    trained = true;
    // The step waits 11 ms for its batch.
    now += 11;
    link.deliver(await batchFor(1, 0, 0), { type: 'pause', generation: 1, atStep: 1 });
    expect(await g.end).toEqual({ kind: 'paused' });
    expect(events).toEqual(['compute', 'reduce', 'update', 'report']);
    const done = link.steps();
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ step: 0, samples: 8, skipped: false, checksum: checksum(g.replica().params) });
    expect(done[0]!.checksum).not.toBe(checksum(initial));
    expect(done[0]!.timings).toMatchObject({ waitMs: 11, computeMs: 5, allreduceMs: 7, updateMs: 3 });
    expect((await stateOf(link)).state!.step).toBe(1);
    trainer.dispose();
  });

  it('an abandon mid-step leaves the replica at the last committed step', async () => {
    const trainers = [await cpuTrainer(), await cpuTrainer()];
    const entered: number[][] = [[], []];
    let rank0InStep1: () => void = () => undefined;
    const blocked = new Promise<void>((r) => (rank0InStep1 = r));
    const group = closableGroup(2, (rank) => {
      entered[rank]!.push(rank);
      if (rank === 0 && entered[0]!.length === 2) rank0InStep1();
    });
    const links = [new MemoryLink(), new MemoryLink()];
    const gens = [0, 1].map((r) => run(links[r]!, trainers[r]!, startFor(trainers[r]!, r, 2), group[r]!));
    for (const r of [0, 1]) links[r]!.deliver({ type: 'go', generation: 1 }, await batchFor(1, 0, r));
    await Promise.all(links.map((l) => stepDone(l, 0)));
    const committed = gens[0]!.replica().params.slice();
    // Rank 0 computes step 1 and waits in the all-reduce for rank 1, whose batch never comes.
    links[0]!.deliver(await batchFor(1, 1, 0));
    await blocked;
    for (const l of links) l.deliver({ type: 'pause', generation: 1, atStep: null });
    expect(await gens[0]!.end).toEqual({ kind: 'paused' });
    expect(await gens[1]!.end).toEqual({ kind: 'paused' });
    const states = await Promise.all(links.map(stateOf));
    for (const s of states) {
      expect(s.state!.step).toBe(1);
      expect(bits(s.state!.params)).toEqual(bits(committed));
    }
    expect(links[0]!.steps().map((d) => d.step)).toEqual([0]);
    expect(links[0]!.sent.some((m) => m.type === 'ring-failed')).toBe(false);
    for (const t of trainers) t.dispose();
  });

  it('a non-finite step is skipped alike on every rank', async () => {
    const trainers = [await cpuTrainer(), await cpuTrainer()];
    const initial = checksum(trainers[0]!.getWeights());
    const group = closableGroup(2);
    const links = [new MemoryLink(), new MemoryLink()];
    const gens = [0, 1].map((r) => run(links[r]!, trainers[r]!, startFor(trainers[r]!, r, 2, { onNonfinite: 'skip' }), group[r]!));
    // Only rank 1's rows hold a NaN: rank 0's own gradient is finite, the reduced one is not.
    const poisoned = await batchFor(1, 0, 1);
    poisoned.tensors!['x']![3] = NaN;
    links[0]!.deliver({ type: 'go', generation: 1 }, await batchFor(1, 0, 0), await batchFor(1, 1, 0), { type: 'pause', generation: 1, atStep: 2 });
    links[1]!.deliver({ type: 'go', generation: 1 }, poisoned, await batchFor(1, 1, 1), { type: 'pause', generation: 1, atStep: 2 });
    for (const g of gens) expect(await g.end).toEqual({ kind: 'paused' });
    const [a, b] = links.map((l) => l.steps());
    expect(a!.map((d) => [d.step, d.skipped])).toEqual([[0, true], [1, false]]);
    expect(b!.map((d) => [d.step, d.skipped])).toEqual([[0, true], [1, false]]);
    // Skipped: the weights stay as adopted on both ranks; the next step applies alike on both.
    expect(a![0]!.checksum).toBe(initial);
    expect(b![0]!.checksum).toBe(initial);
    expect(a![1]!.checksum).toBe(b![1]!.checksum);
    expect(a![1]!.checksum).not.toBe(initial);
    for (const g of gens) expect(g.replica().step).toBe(2);
    for (const t of trainers) t.dispose();
  });

  it('a duplicate go or batch is ignored: each step runs once, as without the duplicates', async () => {
    const runOnce = async (duplicates: boolean): Promise<{ params: Float32Array; computes: number; loads: number; steps: number[] }> => {
      const trainer = await cpuTrainer();
      let computes = 0;
      let loads = 0;
      const compute = trainer.computeGradientsOf.bind(trainer);
      trainer.computeGradientsOf = (...args) => (computes++, compute(...args));
      const setWeights = trainer.setWeights.bind(trainer);
      trainer.setWeights = (flat) => (loads++, setWeights(flat));
      const link = new MemoryLink();
      const g = run(link, trainer, startFor(trainer, 0, 1), new SoloCollective());
      const go = { type: 'go', generation: 1 } as const;
      const b0 = await batchFor(1, 0, 0);
      link.deliver(go, ...(duplicates ? [go, b0] : []), b0);
      await stepDone(link, 0);
      // A batch of another generation for step 1, with other rows: taken for step 1, it would change the weights.
      if (duplicates) link.deliver(b0, go, await batchFor(2, 1, 3));
      link.deliver(await batchFor(1, 1, 0), { type: 'pause', generation: 1, atStep: 2 });
      expect(await g.end).toEqual({ kind: 'paused' });
      trainer.dispose();
      return { params: g.replica().params.slice(), computes, loads, steps: link.steps().map((d) => d.step) };
    };
    const clean = await runOnce(false);
    const dup = await runOnce(true);
    expect(dup.steps).toEqual([0, 1]);
    expect(dup.computes).toBe(2);
    // One load at the go, one after each of the two updates.
    expect(dup.loads).toBe(3);
    expect(bits(dup.params)).toEqual(bits(clean.params));
  });

  it('a batch that never arrives times out into a reconnect, not an exit', async () => {
    const trainer = await cpuTrainer();
    const links: MemoryLink[] = [];
    const connected: ((l: MemoryLink) => void)[] = [];
    const nextLink = (): Promise<MemoryLink> => new Promise((r) => connected.push(r));
    const first = nextLink();
    const second = nextLink();
    const loop = workerLoop<MemoryLink>({
      connect: async () => {
        const l = new MemoryLink();
        links.push(l);
        connected[links.length - 1]?.(l);
        return l;
      },
      hello: (l) => ({ type: 'hello', protocol: 0, ringUrl: 'ws://here', backend: 'cpu', host: 'test', pid: 1, job: null, ...l.helloAuth }),
      runGeneration: (l, start, log, hold) => runGeneration({
        control: l, formRing: async () => new SoloCollective(), log, localData: async () => null, setReplica: hold,
        compute: async () => ({ trainer, engine: { name: 'cpu', reason: 'test', device: 'cpu', threads: null } }),
      }, start),
      connectTimeoutMs: 60_000, reconnectTimeoutMs: 60_000, log: quietLog,
    });
    const a = await first;
    expect(await a.sentWhere((m) => m.type === 'hello')).toMatchObject({ appliedSteps: -1, stateFingerprint: null });
    // Step 0 runs; step 1's batch never comes within the step timeout.
    a.deliver(startFor(trainer, 0, 1, { stepTimeoutMs: 200 }), { type: 'go', generation: 1 }, await batchFor(1, 0, 0));
    // A worker that exits instead fails the test at once with its error.
    const b = await Promise.race([second, loop.then(() => new Promise<never>(() => undefined))]);
    expect(a.closed).toBe(true);
    expect(a.steps().map((d) => d.step)).toEqual([0]);
    expect(a.sent.some((m) => m.type === 'error')).toBe(false);
    // The new connection offers the state the worker kept: one step applied, of this run.
    const hello = (await b.sentWhere((m) => m.type === 'hello')) as HelloMsg;
    expect(hello).toMatchObject({ appliedSteps: 1, stateFingerprint: 'run-fingerprint' });
    b.deliver({ type: 'finish' });
    const held = await loop;
    expect(held!.step).toBe(1);
    expect(links).toHaveLength(2);
    trainer.dispose();
  });
});
