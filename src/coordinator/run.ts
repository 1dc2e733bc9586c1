/**
 * The coordinator's run loop, generation by generation: the executor of the decision modules.
 *
 *   gather    wait until --min-workers are connected (plus a short grace for more)   membership.ts
 *   adopt     a worker that reconnected with a state newer than ours (coordinator restart) sends it
 *                                                                                     adoption.ts
 *   form      generation g+1: ranks, successors, the chosen state broadcast to every rank, ring
 *                                                                                     forming.ts
 *   train     stream batches ahead, commit steps once every rank agrees, evaluate, checkpoint
 *                                                           step-pipeline.ts, stall-inspector.ts
 *   pause     on a loss (socket closed, heartbeats missed, step timeout, ring failure) or a join
 *             (at a step boundary), survivors stop and report their states; the most advanced
 *             one is adopted by everyone in the next generation                       adoption.ts
 *
 * A survivor may have finished a step whose all-reduce others did not finish; it then holds a
 * state one step ahead, computed from a complete global sum, and everyone adopts it. So no
 * committed step is lost and no replica keeps a step the others did not apply.
 *
 * The decisions name workers by connection id and take the time from the injected clock; this
 * class owns the connections, the event mailbox, the files and the observers, and performs the
 * actions the decisions return. The train phase is in run-train.ts.
 */
import type { ControlServer, ServerEvent, WorkerConn } from '../shared/transport/control-server.js';
import type { DataService } from './data-service.js';
import type { CommittedStep } from './step-control.js';
import type { SampleAccounting } from './accounting.js';
import type { Checkpoint, EpochMetrics } from './checkpoint.js';
import type { RunEvents } from './run-events.js';
import { Defaults } from '../shared/base/constants.js';
import type { CoordinatorConfig } from '../shared/config/config.js';
import { ErrorCodes, RingtrainError, type ErrorCode } from '../shared/base/errors.js';
import type { Logger } from '../shared/base/logger.js';
import type { ModelFingerprint, StepTimings, TrainParams, TrainState } from '../shared/protocol/protocol.js';
import type { Optimizer } from '../shared/optim/index.js';
import type { EvalResult } from '../jobs/evaluate.js';
import type { Action, Clock } from './actions.js';
import type { MemberEvent } from './membership.js';
import type { CommSummary } from './run-tally.js';
import { RunTrain, type TrainEnd } from './run-train.js';

export type { CommSummary } from './run-tally.js';

export interface RunSetup {
  cfg: CoordinatorConfig;
  /** The job's own name (cfg.job may be a module path). */
  jobName: string;
  server: ControlServer;
  data: DataService;
  log: Logger;
  events: RunEvents;
  trainParams: TrainParams;
  fingerprint: string;
  /** Where the run starts: a checkpoint, or the seeded initial state. */
  resume: Checkpoint | null;
  initial: TrainState;
  /** The learning rate of a step (the optimizer's schedule), for step events. */
  lrAt(step: number): number;
  /** The run's optimizer, which checks the optimizer part of every state adopted or written. */
  optimizer: Pick<Optimizer, 'checkState'>;
  /** The coordinator's own build of the model: every rank's must match it. */
  modelFingerprint: ModelFingerprint;
  evaluate(params: Float32Array): { test: EvalResult; validation: EvalResult | null };
  /** Saves `params` (after `step` steps) as a Layers model into `dir` (for the best-epoch export). */
  saveModel(params: Float32Array, dir: string, step: number): Promise<void>;
  /** The time every decision reads (default Date.now). */
  clock?: Clock;
}

export interface RunOutcome {
  finalState: TrainState;
  lastCommit: CommittedStep | null;
  epochs: EpochMetrics[];
  engines: string[];
  /** Per rank: the device it computes on, and its engine's intra-op threads (null: engine default). */
  devices: string[];
  threads: (number | null)[];
  workers: number;
  generations: number;
  committedStepsLost: number;
  resumedFromStep: number | null;
  samplesTrained: number;
  trainSeconds: number;
  /** Seconds from this process's start to the first step it committed (null: none committed). */
  firstStepSeconds: number | null;
  stepTimings: StepTimings;
  accounting: SampleAccounting;
  nonFiniteSkips: number;
  comm: CommSummary;
}

export class Run extends RunTrain {
  private readonly conns = new Map<number, WorkerConn>();
  private trainMs = 0;
  private training = false;

  constructor(s: RunSetup) {
    super(s, (id) => this.conns.get(id)?.open ?? false);
  }

  protected override perform(actions: readonly Action[]): void {
    for (const a of actions) {
      const conn = a.do === 'log' ? undefined : this.conns.get(a.to);
      switch (a.do) {
        case 'send': conn?.send(a.msg); break;
        case 'reject': conn?.reject(a.code, a.message); break;
        case 'terminate': conn?.terminate(); break;
        case 'log': this.log[a.level](a.fields, a.msg); break;
        default: { const never: never = a; throw new RingtrainError(ErrorCodes.INTERNAL, `unknown action ${JSON.stringify(never)}`); }
      }
    }
  }

  protected override lastSeen(id: number): number {
    return this.conns.get(id)?.lastSeen ?? -Infinity;
  }

  /** The next server event (null after `timeoutMs`), with its connection registered by id. */
  private async take(timeoutMs: number, what: string): Promise<ServerEvent | null> {
    let ev: ServerEvent;
    try {
      ev = await this.s.server.events.take(Math.max(1, timeoutMs), what);
    } catch (err) {
      if (err instanceof RingtrainError && err.code === ErrorCodes.TIMEOUT) return null;
      throw err;
    }
    if (ev.kind === 'closed') this.conns.delete(ev.conn.id);
    else this.conns.set(ev.conn.id, ev.conn);
    return ev;
  }

  protected override async event(timeoutMs: number, what: string): Promise<MemberEvent | null> {
    const ev = await this.take(timeoutMs, what);
    if (ev === null) return null;
    const { event, actions } = this.m.classify(ev.kind === 'closed' ? { kind: 'closed', id: ev.conn.id, reason: ev.reason } : { kind: 'message', id: ev.conn.id, msg: ev.msg });
    this.perform(actions);
    return event;
  }

  async execute(): Promise<RunOutcome> {
    const resumedFromStep = this.s.resume ? this.best.step : null;
    let fruitless = 0;
    for (;;) {
      await this.gather();
      await this.adoptFromReconnected();
      const before = this.committed;
      const formed = await this.form();
      let end: TrainEnd;
      if (formed !== null) end = { kind: 'lost', why: formed };
      else {
        const t0 = performance.now();
        this.training = true;
        end = await this.train().finally(() => (this.training = false));
        this.trainMs += performance.now() - t0;
      }
      if (end.kind === 'done') break;
      this.log.warn({ generation: this.generation, reason: end.kind === 'lost' ? end.why : 'a worker is joining', committed: this.committed }, 'generation ending');
      // A join pauses at the step boundary everyone has reached (all sent steps are committed).
      await this.pauseAndAdopt(end.kind === 'join' ? this.committed : null);
      if (this.interrupted) throw new RingtrainError(ErrorCodes.ABORTED, `interrupted at step ${this.best.step}`);
      fruitless = this.committed > before || end.kind === 'join' ? 0 : fruitless + 1;
      if (fruitless >= Defaults.maxFruitlessGenerations) {
        throw new RingtrainError(ErrorCodes.RING_FAILED, `${fruitless} generations in a row ended without committing a step (last: ${end.kind === 'lost' ? end.why : 'join'}); check the network between workers`);
      }
    }
    const finalState = this.finalState ?? this.best;
    return {
      finalState, lastCommit: this.tally.lastCommit, epochs: this.epochs, engines: this.engines, devices: this.devices, threads: this.threads, workers: this.m.members.length,
      generations: this.generationsFormed, committedStepsLost: this.committedStepsLost, resumedFromStep,
      samplesTrained: this.ledger.samplesTrained, trainSeconds: this.trainMs / 1000,
      firstStepSeconds: this.firstCommitAt === null ? null : this.firstCommitAt / 1000,
      stepTimings: this.tally.meanTimings(), accounting: this.ledger.accounting, nonFiniteSkips: this.tally.nonFiniteSkips, comm: this.tally.comm(),
    };
  }

  /** After a coordinator restart, workers may hold a newer state than our checkpoint: fetch it. */
  private async adoptFromReconnected(): Promise<void> {
    const chosen = this.reconnectedToAsk();
    if (!chosen) return;
    const deadline = this.clock() + Defaults.stateTimeoutMs;
    while (this.clock() < deadline) {
      const ev = await this.take(deadline - this.clock(), 'a reconnected worker\'s state').catch(() => null);
      if (!ev) break;
      if (ev.kind === 'closed') {
        this.m.waiting.delete(ev.conn.id);
        if (ev.conn.id === chosen.id) break;
        continue;
      }
      if (ev.msg.type === 'hello' && !this.m.waiting.has(ev.conn.id)) this.m.waiting.set(ev.conn.id, { id: ev.conn.id, hello: ev.msg });
      if (ev.conn.id === chosen.id && ev.msg.type === 'state' && ev.msg.state) {
        this.onReconnectedState(chosen, ev.msg.state);
        return;
      }
    }
    this.log.warn('the reconnected worker did not send its state; continuing from ours');
  }

  /**
   * Stops the run at the next event: while training, the generation ends as on a loss, so the
   * survivors report their states and the newest is adopted (latestState) before execute() fails
   * with RT_ABORTED; otherwise there is nothing newer to collect and the run is aborted at once.
   */
  interrupt(): void {
    this.interrupted = true;
    if (!this.training) this.s.server.events.close(new RingtrainError(ErrorCodes.ABORTED, 'interrupted'));
  }

  /** The newest state every rank agreed on (after interrupt(): the survivors' newest). */
  latestState(): TrainState {
    return this.best;
  }

  /** Sends `finish` to every member and waits for them to close. */
  async finish(): Promise<void> {
    const conns = this.m.members.flatMap((m) => this.conns.get(m.id) ?? []);
    for (const c of conns) c.send({ type: 'finish' });
    await Promise.all(conns.map((c) => c.closed(Defaults.finishTimeoutMs)));
  }

  /** Tells every connected worker why the run failed. */
  failAll(code: ErrorCode, message: string): void {
    for (const p of [...this.m.members, ...this.m.waiting.values()]) this.conns.get(p.id)?.reject(code, message);
  }
}
