/**
 * One generation from a worker's point of view: adopt the state the coordinator chose, form the
 * ring, start the engine, then run the steps (step-runner.ts) until the coordinator pauses the
 * generation, finishes the run, or the ring breaks. The worker never decides membership; it keeps
 * its state and reports it.
 */
import { RingCollective } from '../shared/collective/ring-collective.js';
import { SoloCollective, type Collective } from '../shared/collective/collective.js';
import type { RingServer } from '../shared/transport/ring-server.js';
import type { Trainer } from '../shared/engine/trainer.js';
import { Replica } from '../shared/engine/replica.js';
import { fromConfig } from '../shared/optim/index.js';
import { Defaults } from '../shared/base/constants.js';
import { ErrorCodes, RingtrainError, toRingtrainError } from '../shared/base/errors.js';
import type { Logger } from '../shared/base/logger.js';
import type { StartMsg } from '../shared/protocol/protocol.js';
import { deriveRingKey } from '../shared/protocol/auth.js';
import type { TlsMaterial } from '../shared/transport/tls.js';
import { modelFingerprint } from '../shared/engine/fingerprint.js';
import { allocator, KernelArena } from '../shared/kernels/kernel-arena.js';
import { BatchFeed, type LocalSplit } from './local-data.js';
import type { FileSplit } from './file-data.js';
import { peerOf, runSteps, type GenerationEnd, type StepControl } from './step-runner.js';

export { reportState, type GenerationEnd } from './step-runner.js';

/** Forms a generation's collective over the adopted state's memory. */
export type RingFormer = (start: StartMsg, arena: KernelArena | null, log: Logger) => Promise<Collective>;

export interface GenerationContext {
  control: StepControl;
  /** The ring over sockets (socketRing), or an in-process collective in tests. */
  formRing: RingFormer;
  /** The engine and model; started after the ring is formed (see runGeneration). */
  compute(): Promise<{ trainer: Trainer; engine: { name: string; reason: string; device: string; threads: number | null } }>;
  log: Logger;
  /** Set on adoption; the caller keeps it across generations. */
  setReplica(r: Replica): void;
  /** The training split when this worker holds the coordinator's (batches as indices), else null. */
  localData(): Promise<LocalSplit | FileSplit | null>;
  /** Milliseconds, monotonic, for step timings (performance.now when absent). */
  clock?: () => number;
}

/** The ring over WebSockets: this worker's listener, its successor's address, the run's secret. */
export function socketRing(ringServer: RingServer, ringSecret: string, tls: TlsMaterial | null): RingFormer {
  return async (start, arena, log) => {
    // Only this generation's ranks may dial this listener (ring-server.ts).
    ringServer.expectPeers(start.peers ?? null);
    if (start.worldSize === 1 || start.successor === null) return new SoloCollective();
    const ring = await RingCollective.connect({
      server: ringServer, generation: start.generation, rank: start.rank, worldSize: start.worldSize, successorUrl: start.successor, peerUrls: start.peers ?? null,
      compress: start.params.compress, arena,
      connectTimeoutMs: Defaults.ringConnectTimeoutMs, opTimeoutMs: start.params.stepTimeoutMs, log,
      ringKey: deriveRingKey(ringSecret, start.ringSalt, start.generation), tls,
    });
    log.debug({ successorLocal: ring.successorLocal, predReads: ring.predReads }, 'ring formed');
    return ring;
  };
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
  try {
    ring = await ctx.formRing(start, arena, log);
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

  try {
    return await runSteps({ control, engine: trainer, start, replica, ring, optimizer, feed: new BatchFeed(local, trainer.spec.tensors), alloc, log, clock: ctx.clock });
  } finally {
    await ring.close().catch(() => undefined);
  }
}
