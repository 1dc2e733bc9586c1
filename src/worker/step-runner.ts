/**
 * Runs a generation's steps as the step machine (step-machine.ts) decides: waits on the control
 * link, then for each step computes the gradients, all-reduces them, applies the update and
 * reports. Every effect lives here (engine, collective, control link, clock); every decision
 * there, so tests can drive this runner in memory with an in-process collective.
 */
import { RingPeerError } from '../shared/collective/ring-collective.js';
import type { Collective } from '../shared/collective/collective.js';
import type { Replica } from '../shared/engine/replica.js';
import type { Trainer } from '../shared/engine/trainer.js';
import { clipGlobalNorm, type Optimizer } from '../shared/optim/index.js';
import { Defaults } from '../shared/base/constants.js';
import { ErrorCodes, RingtrainError, toRingtrainError } from '../shared/base/errors.js';
import { checksum } from '../shared/kernels/flat.js';
import { planBuckets } from '../shared/collective/buckets.js';
import { BucketReducer } from '../shared/collective/bucket-reducer.js';
import type { Logger } from '../shared/base/logger.js';
import type { Mailbox } from '../shared/base/mailbox.js';
import type { BatchMsg, CoordinatorToWorker, RingPeer, StartMsg, StepDoneMsg, WorkerWire } from '../shared/protocol/protocol.js';
import { readReduced, StepMachine, waitFailed } from './step-machine.js';
import type { BatchFeed } from './local-data.js';

/** How a generation ended for this worker. */
export type GenerationEnd = { kind: 'finish' } | { kind: 'paused' } | { kind: 'broken' };

/** What the step loop uses of the control link (the ControlClient, or an in-memory one in tests). */
export interface StepControl {
  readonly inbox: Mailbox<CoordinatorToWorker>;
  /** Sees every message as it arrives, before it is queued. */
  onMessage: ((msg: CoordinatorToWorker) => void) | null;
  send(msg: WorkerWire): Promise<void>;
  /** Sends a step report, possibly held back with the next few. */
  report(msg: StepDoneMsg): void;
  /** Writes the held step reports. */
  flush(): void;
}

/** What the step loop uses of the engine. */
export type StepEngine = Pick<Trainer, 'paramCount' | 'params' | 'computeGradientsOf' | 'setWeights'>;

/** Everything one generation's steps run with. */
export interface StepParts {
  control: StepControl;
  engine: StepEngine;
  start: StartMsg;
  /** The adopted state; steps update it in place. */
  replica: Replica;
  ring: Collective;
  /** The run's update rule (its state is the replica's). */
  optimizer: Optimizer;
  /** The rows of each batch: as streamed, or from this worker's copy of the split. */
  feed: BatchFeed;
  /** Where the fusion buffer comes from: the replica's KernelArena when there is one. */
  alloc: (n: number) => Float32Array;
  log: Logger;
  /** Milliseconds, monotonic: step timings are differences of it. */
  clock?: () => number;
}

/** Sends this replica's state for `generation`. */
export function reportState(control: Pick<StepControl, 'send'>, generation: number, replica: Replica | null): Promise<void> {
  return control.send({ type: 'state', generation, state: replica ? replica.toState() : null });
}

/** Waits for the coordinator's next message; a silent coordinator is a lost one (waitFailed). */
async function takeOrLost(control: StepControl, timeoutMs: number, what: string): Promise<CoordinatorToWorker> {
  try {
    return await control.inbox.take(timeoutMs, what);
  } catch (err) {
    throw waitFailed(err);
  }
}

/** Trains until the coordinator pauses the generation or finishes the run, or the ring breaks. */
export async function runSteps(parts: StepParts): Promise<GenerationEnd> {
  const { control, engine, start, replica, ring, log } = parts;
  const clock = parts.clock ?? (() => performance.now());
  const gen = start.generation;
  const machine = new StepMachine({ generation: gen, step: replica.step, stepTimeoutMs: start.params.stepTimeoutMs, clock });
  const step = stepper(parts, machine, clock);
  control.onMessage = (msg) => {
    const seen = machine.onArrival(msg);
    // Rows from a packed file are read as each batch arrives, while earlier steps still compute.
    if (seen?.kind === 'prefetch') parts.feed.arrived(seen.batch);
    if (seen?.kind === 'abandon') void ring.close();
  };
  try {
    for (;;) {
      const action = machine.next();
      if (action.kind === 'pause') {
        await reportState(control, gen, replica);
        log.info({ step: replica.step }, 'generation paused; state reported');
        return { kind: 'paused' };
      }
      if (action.kind === 'step') {
        if ((await step(action.batch, action.waitStart)) === 'broken') return { kind: 'broken' };
        continue;
      }
      // Held step reports go out before waiting: the coordinator may need them to send the batch.
      control.flush();
      const msg = await takeOrLost(control, action.timeoutMs, action.what);
      const outcome = machine.onMessage(msg);
      switch (outcome.kind) {
        case 'go':
          // Only after go: the coordinator has checked that every rank's model matches the state's layout.
          if (replica.params.length !== engine.paramCount) {
            throw new RingtrainError(ErrorCodes.MODEL_MISMATCH, `the coordinator's state has ${replica.params.length} parameters, this worker's model has ${engine.paramCount}`);
          }
          engine.setWeights(replica.params);
          break;
        case 'finish':
          return { kind: 'finish' };
        case 'fail':
          throw outcome.error;
        case 'ignored':
          if (outcome.why === 'stale-batch' && msg.type === 'batch') log.debug({ step: msg.step, generation: msg.generation }, 'stale batch dropped');
          if (outcome.why === 'out-of-order') log.warn({ code: ErrorCodes.UNEXPECTED_MESSAGE, type: msg.type }, 'out-of-order message from coordinator dropped');
          break;
        case 'kept':
          break;
      }
    }
  } finally {
    control.onMessage = null;
  }
}

/** One step's effects in order: rows, compute (with bucketed all-reduce), update, report. */
function stepper(parts: StepParts, machine: StepMachine, clock: () => number): (batch: BatchMsg, waitStart: number) => Promise<'done' | 'abandoned' | 'broken'> {
  const { control, engine, start, replica, ring, optimizer, feed, log } = parts;
  const gen = start.generation;
  const p = start.params;
  const P = engine.paramCount;
  // Fusion buffer: all gradients, then the loss sum and the sample count, so one all-reduce also
  // gives every rank the global loss and the exact global divisor.
  const fusion = parts.alloc(P + 2);
  // Gradient buckets end at variable boundaries; the loss/count tail is the last "variable", in a
  // bucket of its own under compression so that it is reduced exactly.
  const tail = engine.params.length;
  const compress = p.compress !== 'none';
  const buckets = planBuckets([...engine.params.map((q) => q.size), 2], Defaults.gradientBucketBytes / 4, compress);
  // --accumulate: a batch holds up to K micro-batches of batchSize, computed one at a time.
  const microBatch = p.batchSize;

  return async (batch, waitStart) => {
    // Streamed rows, gathered from local data or read from the data file (a read not done ahead
    // counts as waiting); a bad index throws before any state changes.
    const rows = await feed.rows(batch);
    const t1 = clock();
    // Buckets are all-reduced while later gradients are still being read back (overlap).
    const reducer = new BucketReducer(ring, fusion, buckets);
    fusion[P] = await engine.computeGradientsOf(rows, batch.count, fusion, { microBatch, onVar: (i) => reducer.ready(i) });
    fusion[P + 1] = batch.count;
    reducer.ready(tail);
    const t2 = clock();
    let commMs: number;
    try {
      commMs = (await reducer.finish()).busyMs;
    } catch (err) {
      if (machine.reduceFailed() === 'abandoned') return 'abandoned';
      const e = toRingtrainError(err, ErrorCodes.RING_FAILED);
      log.warn({ code: e.code, err: e.message, step: replica.step, ...peerOf(e) }, 'all-reduce failed; keeping state and waiting for the coordinator');
      await control.send({ type: 'ring-failed', generation: gen, step: replica.step, code: e.code, message: e.message, ...peerOf(e) });
      return 'broken';
    }
    const t3 = clock();
    const step = replica.step;
    const { loss, samples, skipped } = readReduced(fusion, P, p.onNonfinite, step);
    if (!skipped) {
      // The optimizer divides the summed gradient by the global sample count in its own sweep;
      // clipping (on the reduced buffer, so every rank clips alike) hands it the clipped mean.
      const grads = fusion.subarray(0, P);
      const divisor = p.clipNorm > 0 ? clipGlobalNorm(grads, samples, p.clipNorm).divisor : samples;
      optimizer.step(replica.params, grads, replica.optim, step, divisor);
      engine.setWeights(replica.params);
    }
    replica.step += 1;
    replica.epoch = batch.nextEpoch;
    replica.cursor = batch.nextCursor;
    machine.committed();
    const t4 = clock();
    control.report({
      type: 'step-done', generation: gen, step, loss, samples,
      checksum: batch.checksum ? checksum(replica.params) : null,
      timings: { waitMs: t1 - waitStart, computeMs: t2 - t1, allreduceMs: t3 - t2, updateMs: t4 - t3, commMs }, skipped,
    });
    if (batch.sendState) void reportState(control, gen, replica);
    return 'done';
  };
}

/** The peer a ring error names, as the optional field of a ring-failed report. */
export function peerOf(e: Error): { peer?: RingPeer } {
  return e instanceof RingPeerError ? { peer: e.peer } : {};
}
