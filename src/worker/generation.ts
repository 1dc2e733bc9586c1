/**
 * One generation from a worker's point of view: adopt the state the coordinator chose, form the
 * ring, then train step by step until the coordinator pauses the generation, finishes the run, or
 * the ring breaks. The worker never decides membership; it keeps its state and reports it.
 */
import { RingCollective, RingPeerError } from '../shared/collective/ring-collective.js';
import { SoloCollective, type Collective } from '../shared/collective/collective.js';
import type { ControlClient } from '../shared/transport/control-client.js';
import type { RingServer } from '../shared/transport/ring-server.js';
import type { Trainer } from '../shared/engine/trainer.js';
import { Replica } from '../shared/engine/replica.js';
import { clipGlobalNorm, fromConfig, type Optimizer } from '../shared/optim/index.js';
import { Defaults } from '../shared/base/constants.js';
import { ErrorCodes, RingtrainError, toRingtrainError } from '../shared/base/errors.js';
import { checksum } from '../shared/kernels/flat.js';
import { planBuckets } from '../shared/collective/buckets.js';
import { BucketReducer } from '../shared/collective/bucket-reducer.js';
import type { Logger } from '../shared/base/logger.js';
import { assertNever, type BatchMsg, type CoordinatorToWorker, type RingPeer, type StartMsg } from '../shared/protocol/protocol.js';
import { deriveRingKey } from '../shared/protocol/auth.js';
import { skipNonFinite } from '../shared/optim/nonfinite.js';
import type { TlsMaterial } from '../shared/transport/tls.js';
import { modelFingerprint } from '../shared/engine/fingerprint.js';
import { allocator, KernelArena } from '../shared/kernels/kernel-arena.js';
import { BatchFeed, type LocalSplit } from './local-data.js';
import type { FileSplit } from './file-data.js';

/** How a generation ended for this worker. */
export type GenerationEnd = { kind: 'finish' } | { kind: 'paused' } | { kind: 'broken' };

export interface GenerationContext {
  control: ControlClient;
  ringServer: RingServer;
  /** The engine and model; started after the ring is formed (see runGeneration). */
  compute(): Promise<{ trainer: Trainer; engine: { name: string; reason: string; device: string; threads: number | null } }>;
  log: Logger;
  /** Trust anchors for wss:// ring links. */
  tls: TlsMaterial | null;
  /** Set on adoption; the caller keeps it across generations. */
  setReplica(r: Replica): void;
  /** The training split when this worker holds the coordinator's (batches as indices), else null. */
  localData(): Promise<LocalSplit | FileSplit | null>;
}

/** Sends this replica's state for `generation`. */
export function reportState(control: ControlClient, generation: number, replica: Replica | null): Promise<void> {
  return control.send({ type: 'state', generation, state: replica ? replica.toState() : null });
}

export async function runGeneration(ctx: GenerationContext, start: StartMsg): Promise<GenerationEnd> {
  const { control, log } = ctx;
  const gen = start.generation;
  // The run's update rule, rebuilt from the start message; the state must be that rule's.
  const P = start.state.params.length;
  const optimizer = fromConfig(start.params.optimizer.name, start.params.optimizer.config, ErrorCodes.BAD_MESSAGE);
  const problem = optimizer.checkState(start.state.optim, P, start.state.step);
  if (problem) throw new RingtrainError(ErrorCodes.BAD_MESSAGE, `the coordinator's state cannot be adopted: ${problem}`);
  // Weights, the optimizer's slots and the fusion buffer in one WebAssembly memory, where the
  // update runs as SIMD in place (shared/optim); plain arrays where that cannot be had.
  // The ring's predecessor link reads into the same memory, so gradients are added from where
  // they arrive (ring-collective.ts).
  const arena = KernelArena.create([P, ...optimizer.slotNames.map(() => P), P + 2, Defaults.ringReadBufferBytes / 4]);
  const alloc = allocator(arena);
  const replica = Replica.fromState(start.state, alloc);
  ctx.setReplica(replica);

  let ring: Collective;
  // Only this generation's ranks may dial this listener (ring-server.ts).
  ctx.ringServer.expectPeers(start.peers ?? null);
  try {
    ring = start.worldSize === 1 || start.successor === null
      ? new SoloCollective()
      : await RingCollective.connect({
          server: ctx.ringServer, generation: gen, rank: start.rank, worldSize: start.worldSize, successorUrl: start.successor, peerUrls: start.peers ?? null,
          compress: start.params.compress ?? 'none', arena,
          connectTimeoutMs: Defaults.ringConnectTimeoutMs, opTimeoutMs: start.params.stepTimeoutMs, log,
          ringKey: deriveRingKey(control.ringSecret, start.ringSalt, gen), tls: ctx.tls,
        });
    if (ring instanceof RingCollective) log.debug({ successorLocal: ring.successorLocal, predReads: ring.predReads }, 'ring formed');
  } catch (err) {
    const e = toRingtrainError(err, ErrorCodes.RING_FAILED);
    log.warn({ code: e.code, err: e.message, ...peerOf(e) }, 'could not form the ring');
    await control.send({ type: 'ring-failed', generation: gen, step: replica.step, code: e.code, message: e.message, ...peerOf(e) });
    return { kind: 'broken' };
  }

  // The ring first: it needs only the start message, while an engine (GPU shader compilation,
  // CUDA start-up) may take minutes the first time, which would outlast a peer's ring-connect wait.
  // The data loads while the engine starts; ring-ready tells the coordinator whether it matched.
  let trainer: Trainer;
  let local: LocalSplit | FileSplit | null;
  try {
    const [c, split] = await Promise.all([ctx.compute(), ctx.localData()]);
    trainer = c.trainer;
    local = split;
    void control.send({ type: 'ring-ready', generation: gen, engine: c.engine.name, engineReason: c.engine.reason, device: c.engine.device, threads: c.engine.threads, fingerprint: modelFingerprint(trainer), localData: local !== null });
  } catch (err) {
    await ring.close();
    throw err;
  }

  // Rows from a packed file are read as each batch arrives, while earlier steps still compute
  // (the loop itself takes a batch from the inbox only when its step is next).
  const feed = new BatchFeed(local, trainer.spec.tensors);
  // An immediate pause (a member was lost) must interrupt a step blocked in the all-reduce.
  let aborted = false;
  control.onMessage = (msg) => {
    if (msg.type === 'batch' && msg.generation === gen && msg.step >= replica.step) feed.arrived(msg);
    if (msg.type === 'pause' && msg.generation === gen && msg.atStep === null) {
      aborted = true;
      void ring.close();
    }
  };
  try {
    return await trainLoop(ctx, trainer, start, replica, ring, { alloc, optimizer, feed, isAborted: () => aborted });
  } finally {
    control.onMessage = null;
    await ring.close().catch(() => undefined);
  }
}

/**
 * Waits for the coordinator's next message. Only the coordinator decides that a step has failed
 * (it knows every rank); a worker whose coordinator stays quiet this long treats it as lost and
 * reconnects with its state, so a frozen or restarting coordinator finds its workers again.
 */
async function takeOrLost(control: ControlClient, timeoutMs: number, what: string): Promise<CoordinatorToWorker> {
  try {
    return await control.inbox.take(timeoutMs, what);
  } catch (err) {
    const e = toRingtrainError(err);
    if (e.code !== ErrorCodes.TIMEOUT) throw e;
    throw new RingtrainError(ErrorCodes.COORDINATOR_LOST, `${e.message}; the coordinator is silent, reconnecting`);
  }
}

/** What a generation's training loop uses besides its replica and ring. */
interface LoopParts {
  /** Where the fusion buffer comes from: the replica's KernelArena when there is one. */
  alloc: (n: number) => Float32Array;
  /** The run's update rule (its state is the replica's). */
  optimizer: Optimizer;
  /** The rows of each batch: as streamed, or from this worker's copy of the split (memory or a packed file). */
  feed: BatchFeed;
  /** True once an immediate pause has closed the ring under a running step. */
  isAborted: () => boolean;
}

async function trainLoop(ctx: GenerationContext, trainer: Trainer, start: StartMsg, replica: Replica, ring: Collective, { alloc, optimizer, feed, isAborted }: LoopParts): Promise<GenerationEnd> {
  const { control, log } = ctx;
  const gen = start.generation;
  const p = start.params;
  const P = trainer.paramCount;
  // Fusion buffer: all gradients, then the loss sum and the sample count, so one all-reduce also
  // gives every rank the global loss and the exact global divisor.
  const fusion = alloc(P + 2);
  // Gradient buckets end at variable boundaries; the loss/count tail is the last "variable", in a
  // bucket of its own under compression so that it is reduced exactly.
  const tail = trainer.params.length;
  const compress = (p.compress ?? 'none') !== 'none';
  const buckets = planBuckets([...trainer.params.map((q) => q.size), 2], Defaults.gradientBucketBytes / 4, compress);
  // --accumulate: a batch holds up to K micro-batches of batchSize, computed one at a time.
  const microBatch = p.batchSize;
  const pending = new Map<number, BatchMsg>();
  /** undefined: no pause asked; null: pause now; n: pause once step n is reached. */
  let pauseAt: number | null | undefined;
  let goSeen = false;
  // When this step began waiting for its batch: kept across the control messages that arrive
  // meanwhile, so waitMs covers the whole wait, not only the last pass through the loop.
  let waitStart: number | null = null;

  for (;;) {
    if (goSeen && pauseAt !== undefined && (pauseAt === null || replica.step >= pauseAt)) {
      await reportState(control, gen, replica);
      log.info({ step: replica.step }, 'generation paused; state reported');
      return { kind: 'paused' };
    }
    // Waiting starts once training has (the go); the time before it is the ring's and engine's start.
    if (goSeen && waitStart === null) waitStart = performance.now();
    let batch = goSeen ? pending.get(replica.step) : undefined;
    if (!batch) {
      // Held step reports go out before waiting: the coordinator may need them to send the batch.
      control.flush();
      // The go waits for every rank's engine start as well as the ring: GPU engines can start slowly.
      const msg = await takeOrLost(control, goSeen ? p.stepTimeoutMs : Defaults.ringConnectTimeoutMs + Defaults.engineStartTimeoutMs, goSeen ? `the batch for step ${replica.step}` : 'the go signal');
      switch (msg.type) {
        case 'go':
          if (msg.generation === gen && !goSeen) {
            goSeen = true;
            // Only after go: the coordinator has checked that every rank's model matches the state's layout.
            if (replica.params.length !== trainer.paramCount) {
              throw new RingtrainError(ErrorCodes.MODEL_MISMATCH, `the coordinator's state has ${replica.params.length} parameters, this worker's model has ${trainer.paramCount}`);
            }
            trainer.setWeights(replica.params);
          }
          break;
        case 'batch':
          if (msg.generation === gen && msg.step >= replica.step) pending.set(msg.step, msg);
          else log.debug({ step: msg.step, generation: msg.generation }, 'stale batch dropped');
          break;
        case 'pause':
          if (msg.generation === gen) {
            pauseAt = msg.atStep;
            // Paused before training began: nothing to finish.
            goSeen = true;
          }
          break;
        case 'finish':
          return { kind: 'finish' };
        case 'error':
          throw new RingtrainError(msg.code, `coordinator: ${msg.message}`);
        case 'start':
        case 'challenge':
        case 'welcome':
          log.warn({ code: ErrorCodes.UNEXPECTED_MESSAGE, type: msg.type }, 'out-of-order message from coordinator dropped');
          break;
        default:
          assertNever(msg);
      }
      continue;
    }
    pending.delete(replica.step);
    // Streamed rows, gathered from local data or read from the data file (a read not done ahead
    // counts as waiting); a bad index throws before any state changes.
    const rows = await feed.rows(batch);
    const t1 = performance.now();
    const t0 = waitStart ?? t1;
    waitStart = null;
    // Buckets are all-reduced while later gradients are still being read back (overlap).
    const reducer = new BucketReducer(ring, fusion, buckets);
    fusion[P] = await trainer.computeGradientsOf(rows, batch.count, fusion, { microBatch, onVar: (i) => reducer.ready(i) });
    fusion[P + 1] = batch.count;
    reducer.ready(tail);
    const t2 = performance.now();
    let commMs: number;
    try {
      commMs = (await reducer.finish()).busyMs;
    } catch (err) {
      if (isAborted()) {
        // The pause is (or will be) in the inbox; the top of the loop reports our state.
        pauseAt = null;
        continue;
      }
      const e = toRingtrainError(err, ErrorCodes.RING_FAILED);
      log.warn({ code: e.code, err: e.message, step: replica.step, ...peerOf(e) }, 'all-reduce failed; keeping state and waiting for the coordinator');
      await control.send({ type: 'ring-failed', generation: gen, step: replica.step, code: e.code, message: e.message, ...peerOf(e) });
      return { kind: 'broken' };
    }
    const t3 = performance.now();
    const samples = fusion[P + 1]!;
    const loss = fusion[P]! / samples;
    const grads = fusion.subarray(0, P);
    const step = replica.step;
    // Decided on the reduced buffer, identical on every rank, so all ranks skip (or abort) alike.
    const skipped = skipNonFinite(fusion, p.onNonfinite, step);
    if (!skipped) {
      // The optimizer divides the summed gradient by the global sample count in its own sweep;
      // clipping (on the reduced buffer, so every rank clips alike) hands it the clipped mean.
      const divisor = p.clipNorm > 0 ? clipGlobalNorm(grads, samples, p.clipNorm).divisor : samples;
      optimizer.step(replica.params, grads, replica.optim, step, divisor);
      trainer.setWeights(replica.params);
    }
    replica.step += 1;
    replica.epoch = batch.nextEpoch;
    replica.cursor = batch.nextCursor;
    const t4 = performance.now();
    control.report({
      type: 'step-done', generation: gen, step, loss, samples,
      checksum: batch.checksum ? checksum(replica.params) : null,
      timings: { waitMs: t1 - t0, computeMs: t2 - t1, allreduceMs: t3 - t2, updateMs: t4 - t3, commMs }, skipped,
    });
    if (batch.sendState) void reportState(control, gen, replica);
  }
}

/** The peer a ring error names, as the optional field of a ring-failed report. */
function peerOf(e: Error): { peer?: RingPeer } {
  return e instanceof RingPeerError ? { peer: e.peer } : {};
}
