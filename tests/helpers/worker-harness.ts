/**
 * In-memory parts for driving the worker's step runner and worker loop without sockets or child
 * processes: a control link whose coordinator side is the test, a collective group whose close()
 * interrupts a rank's pending all-reduce (as the ring's does), and a real Trainer on tfjs's CPU
 * backend with the regression job's data.
 */
import * as tf from '@tensorflow/tfjs';
import { Trainer } from '../../src/shared/engine/trainer.js';
import { BUILTIN_JOBS } from '../../src/jobs/registry.js';
import { Mailbox } from '../../src/shared/base/mailbox.js';
import { ErrorCodes, RingtrainError } from '../../src/shared/base/errors.js';
import { createLogger } from '../../src/shared/base/logger.js';
import type { Collective } from '../../src/shared/collective/collective.js';
import type { BatchMsg, CoordinatorToWorker, StartMsg, StepDoneMsg, TrainParams, WorkerToCoordinator, WorkerWire } from '../../src/shared/protocol/protocol.js';
import type { WorkerLink } from '../../src/worker/worker-loop.js';
import type { Dataset } from '../../src/shared/job/job.js';
import { adamParams, freshState } from './train-state.js';
import { createLocalGroup } from './local-collective.js';

/** What a worker sends: wire messages, and step reports as it hands them over (unbatched here). */
export type Sent = WorkerToCoordinator | WorkerWire;

export const quietLog = createLogger('worker', 'silent');
export const job = BUILTIN_JOBS['regression-mlp']!;

/** A control link whose far end is the test: it delivers messages and reads what was sent. */
export class MemoryLink implements WorkerLink {
  readonly inbox = new Mailbox<CoordinatorToWorker>();
  onMessage: ((msg: CoordinatorToWorker) => void) | null = null;
  /** Everything the worker sent, step reports included, in order. */
  readonly sent: Sent[] = [];
  trusted = true;
  refusal: RingtrainError | null = null;
  closed = false;
  readonly helloAuth = { proof: null, nonce: new Uint8Array(16) };
  readonly ringSecret = '';
  readonly localAddress = '127.0.0.1';
  private watchers: { pred: (m: Sent) => boolean; resolve: (m: Sent) => void }[] = [];

  /** Hands messages over as the control client does: the arrival hook first, then the inbox. */
  deliver(...msgs: CoordinatorToWorker[]): void {
    for (const m of msgs) {
      this.onMessage?.(m);
      this.inbox.push(m);
    }
  }

  send(msg: WorkerWire): Promise<void> {
    this.record(msg);
    return Promise.resolve();
  }

  report(msg: StepDoneMsg): void {
    this.record(msg);
  }

  flush(): void {}

  close(): void {
    this.closed = true;
    this.inbox.close(new RingtrainError(ErrorCodes.COORDINATOR_LOST, 'memory link closed'));
  }

  /** Resolves with the first sent message (already sent or still to come) that matches. */
  sentWhere(pred: (m: Sent) => boolean): Promise<Sent> {
    const done = this.sent.find(pred);
    if (done) return Promise.resolve(done);
    return new Promise((resolve) => this.watchers.push({ pred, resolve }));
  }

  /** The step reports sent so far. */
  steps(): StepDoneMsg[] {
    return this.sent.filter((m): m is StepDoneMsg => m.type === 'step-done');
  }

  private record(msg: Sent): void {
    this.sent.push(msg);
    this.watchers = this.watchers.filter((w) => {
      if (!w.pred(msg)) return true;
      w.resolve(msg);
      return false;
    });
  }
}

/**
 * N in-process ranks (tests/helpers/local-collective.ts) whose close() fails that rank's pending
 * all-reduce, as closing a ring does: the worker's abandon closes the collective under a step.
 */
export function closableGroup(worldSize: number, onEnter: (rank: number, buf: Float32Array) => void = () => undefined): Collective[] {
  return createLocalGroup(worldSize).map((c) => {
    let fail: ((e: Error) => void) | null = null;
    let closed = false;
    const closedError = (): RingtrainError => new RingtrainError(ErrorCodes.RING_FAILED, `rank ${c.rank}'s collective is closed`);
    return {
      rank: c.rank,
      worldSize: c.worldSize,
      allreduceSum: (buf, opts) => {
        if (closed) return Promise.reject(closedError());
        onEnter(c.rank, buf);
        return new Promise<void>((resolve, reject) => {
          fail = reject;
          c.allreduceSum(buf, opts).then(resolve, reject).finally(() => (fail = null));
        });
      },
      close: async () => {
        closed = true;
        fail?.(closedError());
      },
    };
  });
}

/** A real Trainer for the regression job on tfjs's CPU backend (same seed: same initial weights). */
export async function cpuTrainer(seed = 7): Promise<Trainer> {
  await tf.setBackend('cpu');
  return Trainer.create(tf, job, seed);
}

let data: Dataset | null = null;
/** The regression job's training split (seed 7), loaded once. */
export async function trainSplit(): Promise<Dataset> {
  data ??= (await job.loadData(7)).train;
  return data;
}

/** A start message for `rank` of `worldSize`, from `trainer`'s initial weights and Adam's fresh state. */
export function startFor(trainer: Trainer, rank: number, worldSize: number, over: Partial<TrainParams> = {}, generation = 1): StartMsg {
  return {
    type: 'start', generation, rank, worldSize, successor: worldSize > 1 ? `ws://rank-${(rank + 1) % worldSize}` : null, job: job.name,
    params: adamParams({ batchSize: 8, ...over }), state: { ...freshState(trainer.paramCount), params: trainer.getWeights() },
    fingerprint: 'run-fingerprint', ringSalt: new Uint8Array(16), peers: null, dataFingerprint: null,
  };
}

/** Rank `rank`'s share of `step`: `count` streamed rows of the split, different per rank and step. */
export async function batchFor(generation: number, step: number, rank: number, count = 8, over: Partial<BatchMsg> = {}): Promise<BatchMsg> {
  const train = await trainSplit();
  const first = ((step * 4 + rank) * count) % (train.size - count);
  const xw = train.x.length / train.size;
  const yw = train.y.length / train.size;
  return {
    type: 'batch', generation, step, epoch: 0, count, nextEpoch: 0, nextCursor: (step + 1) * count * 4, checksum: true, sendState: false,
    tensors: { x: train.x.slice(first * xw, (first + count) * xw), y: train.y.slice(first * yw, (first + count) * yw) }, ...over,
  } as BatchMsg;
}
