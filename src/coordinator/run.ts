/**
 * The coordinator's run loop, generation by generation.
 *
 *   gather    wait until --min-workers are connected (plus a short grace for more)
 *   adopt     a worker that reconnected with a state newer than ours (coordinator restart) sends it
 *   form      generation g+1: ranks, successors, the chosen state broadcast to every rank, ring
 *   train     stream batches ahead, commit steps once every rank agrees, evaluate, checkpoint
 *   pause     on a loss (socket closed, heartbeats missed, step timeout, ring failure) or a join
 *             (at a step boundary), survivors stop and report their states; the most advanced
 *             one is adopted by everyone in the next generation
 *
 * A survivor may have finished a step whose all-reduce others did not finish; it then holds a
 * state one step ahead, computed from a complete global sum, and everyone adopts it. So no
 * committed step is lost and no replica keeps a step the others did not apply.
 */
import type { ControlServer, ServerEvent, WorkerConn } from '../shared/transport/control-server.js';
import { DataService } from './data-service.js';
import { StepCollector, type CommittedStep } from './step-control.js';
import { SampleAccounting } from './accounting.js';
import { saveCheckpoint, type Checkpoint, type EpochMetrics } from './checkpoint.js';
import type { RunEvents } from './run-events.js';
import { Defaults, PROTOCOL_VERSION } from '../shared/base/constants.js';
import { samplesPerRankStep, type CoordinatorConfig } from '../shared/config/config.js';
import { ErrorCodes, RingtrainError, type ErrorCode } from '../shared/base/errors.js';
import type { Logger } from '../shared/base/logger.js';
import type { HelloMsg, ModelFingerprint, RingFailedMsg, StepTimings, TrainParams, TrainState, WorkerToCoordinator } from '../shared/protocol/protocol.js';
import { endsEpoch, planStep, type PlannedStep, type Position } from '../shared/data/sampler.js';
import type { Optimizer } from '../shared/optim/index.js';
import type { EvalResult } from '../jobs/evaluate.js';
import { newNonce } from '../shared/protocol/auth.js';
import { assertSameModel } from './consistency.js';
import { ChecksumLog, checkState, type StateBounds } from './state-check.js';
import { ReportGate } from './report-gate.js';
import { blameStall } from './blame.js';
import { decideRingFailure, type RingReport } from './ring-blame.js';
import { isJobPath } from '../jobs/registry.js';
import { checksum } from '../shared/kernels/flat.js';

interface Peer {
  conn: WorkerConn;
  hello: HelloMsg;
}

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
  /** True when stop() ended the run before its planned end. */
  stopped: boolean;
  /**
   * After a stop: every rank's checksum of the final state (as reported with it), which the
   * summary shows instead of the last commit's; null otherwise.
   */
  stopChecksums: string[] | null;
}

/**
 * Communication of the slowest rank per step, summed over the run: all-reduce wall time, the part
 * the step waited for after compute, and the share hidden behind compute (gradient buckets).
 */
export interface CommSummary {
  allreduceMs: number;
  exposedMs: number;
  hiddenPct: number;
}

/** The step timings every worker reports (commMs is optional and summed apart). */
const TIMED = ['waitMs', 'computeMs', 'allreduceMs', 'updateMs'] as const;

/** Errors a worker reports that no other membership would fix: the whole run fails. */
const FATAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.MODEL_MISMATCH, ErrorCodes.JOB_REQUIRED, ErrorCodes.JOB_LOAD, ErrorCodes.UNKNOWN_JOB,
  ErrorCodes.BACKEND_UNAVAILABLE, ErrorCodes.REPLICA_DIVERGED, ErrorCodes.BAD_CONFIG, ErrorCodes.NON_FINITE,
  ErrorCodes.AUTH_FAILED, ErrorCodes.TLS, ErrorCodes.VERSION_MISMATCH, ErrorCodes.DATA_MISMATCH, ErrorCodes.BAD_DATA,
]);

type MemberEvent =
  | { kind: 'member'; rank: number; msg: WorkerToCoordinator }
  | { kind: 'lost'; rank: number; reason: string }
  | { kind: 'joined' }
  | { kind: 'other' };

type TrainEnd = { kind: 'done' } | { kind: 'lost'; why: string } | { kind: 'join' } | { kind: 'stop' };

export class Run {
  private readonly waiting = new Map<number, Peer>();
  private members: Peer[] = [];
  private generation: number;
  private best: TrainState;
  /** Steps committed (every rank reported); the next step to commit. */
  private committed: number;
  private readonly planned = new Map<number, PlannedStep>();
  private accountedUpTo: number;
  private readonly accounting: SampleAccounting;
  private readonly epochs: EpochMetrics[];
  private epochLossSum: number;
  /** Samples behind epochLossSum (skipped non-finite steps carry no loss). */
  private epochSamples: number;
  private nonFiniteSkips = 0;
  /** Skipped steps in a row: a run whose every update is non-finite cannot learn. */
  private skipRun = 0;
  private lastCommit: CommittedStep | null = null;
  private engines: string[] = [];
  private devices: string[] = [];
  private threads: (number | null)[] = [];
  /** Per rank of this generation: it holds our training split, so its batches carry indices only. */
  private localData: boolean[] = [];
  private generationsFormed = 0;
  private committedStepsLost = 0;
  /**
   * The most steps ever committed: a generation that starts from fewer has lost committed steps.
   * Counted when a generation forms, not when one ends, since survivors that reconnect (after a
   * coordinator freeze) may still bring the newest state back.
   */
  private highWater = 0;
  /** Steps batches were sent for: no honest state can have applied more. */
  private plannedUpTo: number;
  /** Weight checksums every rank agreed on, by steps applied (kept in the checkpoint). */
  private readonly checksums: ChecksumLog;
  private samplesTrained = 0;
  private trainMs = 0;
  /** performance.now() (ms since this process started) when the first step was committed. */
  private firstCommitAt: number | null = null;
  private readonly timingSums: StepTimings = { waitMs: 0, computeMs: 0, allreduceMs: 0, updateMs: 0 };
  private timedSteps = 0;
  /** Slowest rank's all-reduce time per step, summed: in flight at all, and after compute only. */
  private commMs = 0;
  private exposedMs = 0;
  private finalState: TrainState | null = null;
  /** Ctrl-C: end the generation, collect the survivors' states, then stop (see interrupt()). */
  private interrupted = false;
  private training = false;
  /** stop(): no more batches go out; the run ends at the next state every rank agrees on. */
  private stopping = false;
  private stopChecksums: string[] | null = null;

  constructor(private readonly s: RunSetup) {
    const ck = s.resume;
    this.best = ck ? ck.state : s.initial;
    this.generation = ck ? ck.generation : 0;
    this.committed = this.best.step;
    this.accountedUpTo = this.best.step;
    this.plannedUpTo = this.best.step;
    this.highWater = this.best.step;
    this.checksums = new ChecksumLog(ck?.checksums ?? []);
    this.epochs = ck ? [...ck.epochs] : [];
    this.epochLossSum = ck ? ck.epochLossSum : 0;
    this.epochSamples = ck ? ck.epochSamples : 0;
    this.accounting = new SampleAccounting(s.data.size);
    // What the checkpoint says was trained before it (assumed once each).
    this.markGap({ step: 0, epoch: 0, cursor: 0 }, this.best);
  }

  private get log(): Logger {
    return this.s.log;
  }

  /** Marks every position from `from` up to `to` as trained once (state adopted past our plan). */
  private markGap(from: Position, to: Position): void {
    const size = this.s.data.size;
    for (let e = from.epoch; e <= to.epoch && e < this.s.cfg.epochs; e++) {
      const begin = e === from.epoch ? from.cursor : 0;
      const end = e === to.epoch ? to.cursor : size;
      if (end > begin) this.accounting.mark(e, begin, end);
    }
  }

  // ---------- events ----------

  private async event(timeoutMs: number, what: string): Promise<MemberEvent | null> {
    let ev: ServerEvent;
    try {
      ev = await this.s.server.events.take(Math.max(1, timeoutMs), what);
    } catch (err) {
      if (err instanceof RingtrainError && err.code === ErrorCodes.TIMEOUT) return null;
      throw err;
    }
    const rank = this.members.findIndex((m) => m.conn === ev.conn);
    if (rank >= 0) {
      if (ev.kind === 'closed') return { kind: 'lost', rank, reason: ev.reason };
      const msg = ev.msg;
      if (msg.type === 'error') {
        const why = `rank ${rank} failed: ${msg.message} (${this.describe(rank)})`;
        if (FATAL.has(msg.code)) throw new RingtrainError(msg.code, why);
        this.log.warn({ rank, code: msg.code, err: msg.message }, 'worker failed; treating it as lost');
        ev.conn.terminate();
        return { kind: 'lost', rank, reason: why };
      }
      return { kind: 'member', rank, msg };
    }
    if (ev.kind === 'closed') {
      if (this.waiting.delete(ev.conn.id)) this.log.info({ conn: ev.conn.id }, 'waiting worker left');
      return { kind: 'other' };
    }
    const msg = ev.msg;
    if (msg.type === 'hello') {
      if (msg.protocol !== PROTOCOL_VERSION) {
        this.log.warn({ conn: ev.conn.id, theirs: msg.protocol, ours: PROTOCOL_VERSION }, 'protocol version mismatch');
        ev.conn.reject(ErrorCodes.VERSION_MISMATCH, `worker speaks protocol ${msg.protocol}, coordinator speaks ${PROTOCOL_VERSION}; run the same ringtrain version everywhere`);
        return { kind: 'other' };
      }
      // Members whose socket already closed (a killed worker whose loss is still queued) do not
      // count: their replacement may say hello before the loss is processed.
      if (this.members.filter((m) => m.conn.open).length + this.waiting.size >= this.s.cfg.maxWorkers) {
        this.log.warn({ code: ErrorCodes.RUN_FULL, conn: ev.conn.id, host: msg.host }, 'worker refused: the run is full');
        ev.conn.reject(ErrorCodes.RUN_FULL, `this run already has --max-workers ${this.s.cfg.maxWorkers} workers`);
        return { kind: 'other' };
      }
      // A worker without the job module could never build the model: refuse it alone, at once.
      if (msg.job === null && isJobPath(this.s.cfg.job)) {
        this.log.warn({ code: ErrorCodes.JOB_REQUIRED, conn: ev.conn.id, host: msg.host }, 'worker refused: started without --job for a job module');
        ev.conn.reject(ErrorCodes.JOB_REQUIRED, `this run's job is the module ${this.s.cfg.job}; start this worker with --job <path to the same module>`);
        return { kind: 'other' };
      }
      this.waiting.set(ev.conn.id, { conn: ev.conn, hello: msg });
      this.log.info({ conn: ev.conn.id, host: msg.host, workerPid: msg.pid, ring: msg.ringUrl, appliedSteps: msg.appliedSteps, waiting: this.waiting.size }, 'worker joined');
      return { kind: 'joined' };
    }
    if (msg.type === 'error') this.log.warn({ conn: ev.conn.id, code: msg.code, err: msg.message }, 'waiting worker failed');
    return { kind: 'other' };
  }

  /** What a state may be now: at most `maxStep` steps applied (default: what was planned). */
  private bounds(maxStep = this.plannedUpTo): StateBounds {
    return { paramCount: this.s.modelFingerprint.paramCount, dataSize: this.s.data.size, epochs: this.s.cfg.epochs, maxStep, optimizer: this.s.optimizer };
  }

  /** Why `st` cannot be adopted (checkState, then the checksum log), or null. */
  private refuseState(st: TrainState, maxStep?: number): string | null {
    return checkState(st, this.bounds(maxStep)) ?? (this.checksums.verdict(st) === 'differs' ? `its weights differ from the checksum every rank agreed on at step ${st.step}` : null);
  }

  private describe(rank: number): string {
    const h = this.members[rank]?.hello;
    return h ? `${h.host} pid ${h.pid}` : '?';
  }

  // ---------- phases ----------

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
      if (end.kind === 'stop') {
        await this.collectStopState();
        break;
      }
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
      finalState, lastCommit: this.lastCommit, epochs: this.epochs, engines: this.engines, devices: this.devices, threads: this.threads, workers: this.members.length,
      generations: this.generationsFormed, committedStepsLost: this.committedStepsLost, resumedFromStep,
      samplesTrained: this.samplesTrained, trainSeconds: this.trainMs / 1000,
      firstStepSeconds: this.firstCommitAt === null ? null : this.firstCommitAt / 1000,
      stepTimings: this.meanTimings(), accounting: this.accounting, nonFiniteSkips: this.nonFiniteSkips,
      comm: { allreduceMs: this.commMs, exposedMs: this.exposedMs, hiddenPct: this.commMs > 0 ? (100 * Math.max(0, this.commMs - this.exposedMs)) / this.commMs : 0 },
      stopped: this.stopChecksums !== null, stopChecksums: this.stopChecksums,
    };
  }

  /** Members (survivors) plus waiting workers, until --min-workers, then a grace for more. */
  private async gather(): Promise<void> {
    const { minWorkers, maxWorkers, rendezvousTimeoutMs } = this.s.cfg;
    const deadline = Date.now() + rendezvousTimeoutMs;
    let graceEnd: number | null = null;
    const have = (): number => this.members.length + this.waiting.size;
    if (have() < minWorkers) this.log.info({ have: have(), need: minWorkers }, 'waiting for workers');
    for (;;) {
      const n = have();
      if (n >= maxWorkers) return;
      if (n >= minWorkers) {
        const end: number = graceEnd ?? Date.now() + (this.generationsFormed === 0 ? this.s.cfg.rendezvousGraceMs : 0);
        graceEnd = end;
        if (Date.now() >= end) return;
      } else {
        graceEnd = null;
      }
      const wait = Math.min(graceEnd ?? Infinity, deadline) - Date.now();
      if (wait <= 0 && n < minWorkers) {
        throw new RingtrainError(ErrorCodes.TOO_FEW_WORKERS, `only ${n} of --min-workers ${minWorkers} workers after waiting ${rendezvousTimeoutMs} ms; start more workers or lower --min-workers`);
      }
      const ev = await this.event(Math.max(1, wait), 'workers');
      if (ev?.kind === 'lost') {
        this.log.warn({ rank: ev.rank, reason: ev.reason }, 'member lost between generations');
        this.members.splice(ev.rank, 1);
      }
    }
  }

  /** After a coordinator restart, workers may hold a newer state than our checkpoint: fetch it. */
  private async adoptFromReconnected(): Promise<void> {
    let bestPeer: Peer | null = null;
    for (const p of this.waiting.values()) {
      if (p.hello.stateFingerprint === this.s.fingerprint && p.hello.appliedSteps > (bestPeer?.hello.appliedSteps ?? this.best.step)) bestPeer = p;
    }
    if (!bestPeer) return;
    this.log.info({ conn: bestPeer.conn.id, theirs: bestPeer.hello.appliedSteps, ours: this.best.step }, 'a reconnected worker holds a newer state; fetching it');
    bestPeer.conn.send({ type: 'pause', generation: this.generation, atStep: null });
    const deadline = Date.now() + Defaults.stateTimeoutMs;
    while (Date.now() < deadline) {
      const ev = await this.s.server.events.take(Math.max(1, deadline - Date.now()), 'a reconnected worker\'s state').catch(() => null);
      if (!ev) break;
      if (ev.kind === 'closed') {
        this.waiting.delete(ev.conn.id);
        if (ev.conn === bestPeer.conn) break;
        continue;
      }
      if (ev.msg.type === 'hello' && !this.waiting.has(ev.conn.id)) this.waiting.set(ev.conn.id, { conn: ev.conn, hello: ev.msg });
      if (ev.conn === bestPeer.conn && ev.msg.type === 'state' && ev.msg.state) {
        // Right after a restart nothing is planned yet: a worker may be ahead of the checkpoint by
        // what was committed since it (at most --checkpoint-every steps) plus the batches in flight.
        const fresh = this.generationsFormed === 0 && this.s.resume !== null;
        const maxStep = fresh ? Math.max(this.best.step, this.checksums.frontier) + this.s.cfg.checkpointEvery + Defaults.prefetchSteps + 1 : this.plannedUpTo;
        const why = this.refuseState(ev.msg.state, maxStep);
        if (why === null) {
          this.adopt(ev.msg.state, 'reconnected worker');
          return;
        }
        this.log.warn({ code: ErrorCodes.BAD_MESSAGE, conn: ev.conn.id, host: bestPeer.hello.host, why }, 'a reconnected worker\'s state refused; continuing from ours');
        return;
      }
    }
    this.log.warn('the reconnected worker did not send its state; continuing from ours');
  }

  /** Forms the next generation; returns null when the ring is up, or why it failed. */
  private async form(): Promise<string | null> {
    const { maxWorkers } = this.s.cfg;
    for (const p of this.waiting.values()) {
      if (this.members.length >= maxWorkers) break;
      this.members.push(p);
      this.waiting.delete(p.conn.id);
    }
    for (const p of this.waiting.values()) p.conn.reject(ErrorCodes.RUN_FULL, `this run already has --max-workers ${maxWorkers} workers`);
    this.waiting.clear();
    this.generation += 1;
    this.generationsFormed += 1;
    const N = this.members.length;
    this.engines = this.members.map(() => '');
    this.devices = this.members.map(() => '');
    this.threads = this.members.map(() => null);
    this.localData = this.members.map(() => false);
    this.log.info({ generation: this.generation, workers: N, step: this.best.step, epoch: this.best.epoch, cursor: this.best.cursor }, 'forming generation');
    // Whatever was planned beyond the adopted state is re-planned for this world size. Kept until
    // now: a reconnecting survivor (adoptFromReconnected) may bring back planned steps.
    for (const step of [...this.planned.keys()]) if (step >= this.best.step) this.planned.delete(step);
    if (this.best.step < this.highWater) {
      this.committedStepsLost += this.highWater - this.best.step;
      this.log.error({ committed: this.highWater, adopted: this.best.step }, 'committed steps lost');
      this.highWater = this.best.step;
    }
    // Fresh per generation: ranks derive the generation's ring key from it and the token.
    const ringSalt = newNonce();
    // Every rank's ring address: the mesh links of the small-message all-reduce (ring-collective.ts).
    const peers = N > 1 ? this.members.map((m) => m.hello.ringUrl) : null;
    this.members.forEach((m, rank) =>
      m.conn.send({
        type: 'start', generation: this.generation, rank, worldSize: N, successor: N > 1 ? this.members[(rank + 1) % N]!.hello.ringUrl : null, peers,
        job: this.s.cfg.job, params: this.s.trainParams, state: this.best, fingerprint: this.s.fingerprint, ringSalt, dataFingerprint: this.s.data.fingerprint,
      }),
    );
    const fingerprints: ModelFingerprint[] = [];
    const ready = new Set<number>();
    // Ranks start their engine after the ring: GPU engines may take minutes the first time.
    const deadline = Date.now() + Defaults.ringConnectTimeoutMs * 2 + Defaults.engineStartTimeoutMs;
    while (ready.size < N) {
      const ev = await this.event(deadline - Date.now(), 'the ring to form');
      if (ev === null) return `ranks ${this.members.map((_, r) => r).filter((r) => !ready.has(r)).join(', ')} did not form the ring in time`;
      if (ev.kind === 'lost') return `rank ${ev.rank} was lost while forming the ring: ${ev.reason}`;
      if (ev.kind !== 'member') continue;
      const { rank, msg } = ev;
      if (msg.type === 'ring-ready' && msg.generation === this.generation) {
        ready.add(rank);
        this.engines[rank] = msg.engine;
        this.devices[rank] = msg.device ?? '';
        this.threads[rank] = msg.threads ?? null;
        fingerprints[rank] = msg.fingerprint;
        this.localData[rank] = msg.localData === true;
        this.log.info({ generation: this.generation, rank, workerPid: this.members[rank]!.hello.pid, engine: msg.engine, reason: msg.engineReason, device: msg.device, threads: msg.threads, data: this.localData[rank] ? 'local' : 'streamed' }, 'rank ready');
      } else if (msg.type === 'ring-failed' && msg.generation === this.generation) {
        return this.ringFailure(rank, msg, 'could not form the ring');
      }
    }
    // A rank with a different model would corrupt the sum: refuse before the first step.
    assertSameModel(this.s.modelFingerprint, fingerprints);
    for (const m of this.members) m.conn.send({ type: 'go', generation: this.generation });
    this.log.info({ generation: this.generation, workers: N }, 'ring formed; training');
    const { cfg, data } = this.s;
    const stepsPerEpoch = Math.ceil(data.size / (samplesPerRankStep(cfg) * N));
    await this.s.events.emit('onStart', {
      job: this.s.jobName, generation: this.generation, epochs: cfg.epochs, stepsPerEpoch,
      hyper: { job: this.s.jobName, seed: cfg.seed, epochs: cfg.epochs, batchSize: cfg.batchSize, accumulate: cfg.accumulate ?? 1, lr: cfg.lr, workers: N, compress: cfg.compress ?? 'none' },
      // An estimate once membership has changed: the world size of this generation for what is left.
      totalSteps: this.best.step + Math.ceil(((cfg.epochs - this.best.epoch) * data.size - this.best.cursor) / (samplesPerRankStep(cfg) * N)),
      output: cfg.output ?? '',
      workers: this.members.map((m, rank) => ({ rank, host: m.hello.host, pid: m.hello.pid, engine: this.engines[rank] ?? '' })),
    });
    return null;
  }

  /** Trains until the run is done, a member is lost, or a newcomer waits at a step boundary. */
  private async train(): Promise<TrainEnd> {
    const { cfg, data } = this.s;
    const N = this.members.length;
    const gen = this.generation;
    const collectors = new Map<number, StepCollector>();
    /** States rank 0 sent, by the number of steps they include. */
    const states = new Map<number, TrainState>();
    /** Planned steps whose state (eval / checkpoint) is still to be handled. */
    const needState = new Set<number>();
    let pos: Position = { step: this.best.step, epoch: this.best.epoch, cursor: this.best.cursor };
    // A generation pauses for a waiting worker at a step boundary, but only after committing a
    // step of its own: a worker dropped for a cut path rejoins at once, and while the cut lasts
    // every generation it joins fails to form, so without this the run would cycle without ever
    // training.
    const firstStep = this.best.step;
    let joinWanted = this.waiting.size > 0 && N < cfg.maxWorkers;
    let joinPending = false;
    const gate = new ReportGate(N, this.best.step);
    /** When each rank last sent anything (its pongs are in conn.lastSeen). */
    const heard = this.members.map(() => Date.now());
    let lastProgress = Date.now();
    let lastWarn = Date.now();

    const send = (): void => {
      while (!joinPending && !this.stopping && pos.step < this.committed + 1 + Defaults.prefetchSteps) {
        const p = planStep(pos, data.size, samplesPerRankStep(cfg), N, cfg.epochs);
        if (!p) return;
        const last = planStep(p.next, data.size, samplesPerRankStep(cfg), N, cfg.epochs) === null;
        const wantState = endsEpoch(p) || last || (p.step + 1) % cfg.checkpointEvery === 0;
        this.planned.set(p.step, p);
        if (wantState) needState.add(p.step);
        // Checksums are compared across replicas; a world of one has nothing to compare until the
        // last step, whose checksum vouches for the final state it sends.
        // A state rank 0 sends for a checkpoint is checked against the checksum all ranks agree on.
        const wantChecksum = last || wantState || (N > 1 && (p.step + 1) % cfg.checksumEvery === 0);
        this.members.forEach((m, rank) => {
          // A rank holding our split gets only indices (a few hundred bytes): they fit ahead in the
          // socket buffers, so its prefetched batches are there when its steps start.
          const idx = data.indices(p, rank);
          m.conn.send({
            type: 'batch', generation: gen, step: p.step, epoch: p.epoch, count: idx.length, nextEpoch: p.next.epoch, nextCursor: p.next.cursor,
            ...(this.localData[rank] ? { indices: idx } : data.rows(idx)), checksum: wantChecksum, sendState: wantState && rank === 0,
          });
        });
        pos = p.next;
        this.plannedUpTo = Math.max(this.plannedUpTo, pos.step);
      }
    };

    /** Commits what every rank agreed on; returns why rank 0's state was refused, if it was. */
    const commitReady = async (): Promise<string | null> => {
      for (;;) {
        const c = collectors.get(this.committed);
        if (!c?.complete) break;
        collectors.delete(this.committed);
        const commit = c.commit();
        const p = this.planned.get(commit.step)!;
        this.lastCommit = commit;
        this.committed += 1;
        this.firstCommitAt ??= performance.now();
        this.highWater = Math.max(this.highWater, this.committed);
        if (commit.checksums[0]) this.checksums.record(commit.step + 1, commit.checksums[0]);
        lastProgress = Date.now();
        this.account(commit.step);
        if (commit.skipped) {
          this.nonFiniteSkips++;
          if (++this.skipRun > cfg.maxNonfiniteSkips) {
            throw new RingtrainError(ErrorCodes.NON_FINITE, `${this.skipRun} steps in a row (up to step ${commit.step}) had a non-finite loss or gradient and were skipped (--max-nonfinite-skips ${cfg.maxNonfiniteSkips}): this run cannot learn; lower --lr or check the data`);
          }
          this.log.warn({ code: ErrorCodes.NON_FINITE, step: commit.step, loss: commit.loss }, 'all-reduced loss or gradient not finite: every rank skipped this update');
          await this.s.events.emit('onNonFiniteSkip', commit.step);
        } else {
          this.skipRun = 0;
          this.epochLossSum += commit.loss * commit.samples;
          this.epochSamples += commit.samples;
        }
        for (const k of TIMED) this.timingSums[k] += commit.timings[k];
        this.timedSteps += 1;
        // A worker without gradient buckets reports no commMs: all of its all-reduce was exposed.
        this.commMs += commit.timings.commMs ?? commit.timings.allreduceMs;
        this.exposedMs += commit.timings.allreduceMs;
        this.log.debug({ step: commit.step, epoch: p.epoch, loss: commit.loss, samples: commit.samples, ...commit.timings }, 'step committed');
        await this.s.events.emit('onStep', { step: commit.step, epoch: p.epoch, loss: commit.loss, samples: commit.samples, lr: this.s.lrAt(commit.step), timings: commit.timings, rankTimings: commit.rankTimings });
      }
      // States are handled in step order, once their step is committed.
      for (const step of [...needState].sort((a, b) => a - b)) {
        const st = states.get(step + 1);
        if (step >= this.committed || !st) break;
        needState.delete(step);
        states.delete(step + 1);
        const refused = await this.onState(this.planned.get(step)!, st);
        if (refused !== null) return refused;
      }
      send();
      return null;
    };
    /** Rank 0 sent a state that is not the committed one: it goes, the others go on. */
    const evictRank0 = (why: string): TrainEnd => {
      this.log.warn({ code: ErrorCodes.BAD_MESSAGE, rank: 0, why }, 'rank 0\'s state refused; evicting it');
      this.members[0]?.conn.terminate();
      return { kind: 'lost', why: `rank 0 (${this.describe(0)}) sent a bad state: ${why}` };
    };

    send();
    for (;;) {
      if (this.interrupted) return { kind: 'lost', why: 'interrupted' };
      // Stopped at an epoch's end: its state is the final one (see onState).
      if (this.stopChecksums !== null) return { kind: 'done' };
      if (joinWanted && !joinPending && this.committed > firstStep) {
        joinPending = true;
        this.log.info('a worker is waiting to join; pausing at the next step boundary');
      }
      if (this.committed === pos.step && needState.size === 0) {
        if (planStep(pos, data.size, samplesPerRankStep(cfg), N, cfg.epochs) === null) return { kind: 'done' };
        if (joinPending) return { kind: 'join' };
        if (this.stopping) return { kind: 'stop' };
      }
      const sinceProgress = Date.now() - lastProgress;
      if (sinceProgress >= cfg.stepTimeoutMs) {
        const lastSign = this.members.map((m, r) => Math.max(heard[r]!, m.conn.lastSeen));
        const blame = blameStall(collectors.get(this.committed)?.missing() ?? null, lastSign, Defaults.heartbeatIntervalMs);
        for (const r of blame.culprits) this.members[r]?.conn.terminate();
        const who = blame.culprits.length > 0 ? `rank(s) ${blame.culprits.map((r) => `${r} (${this.describe(r)})`).join(', ')}, by ${blame.how}` : 'no rank in particular (none stands out; nobody evicted)';
        return { kind: 'lost', why: `step ${this.committed} timed out after ${cfg.stepTimeoutMs} ms waiting for ${who}` };
      }
      if (sinceProgress >= Defaults.stallWarnMs && Date.now() - lastWarn >= Defaults.stallWarnMs) {
        lastWarn = Date.now();
        const missing = collectors.get(this.committed)?.missing() ?? this.members.map((_, r) => r);
        this.log.warn({ step: this.committed, waitingForRanks: missing, waitedMs: sinceProgress }, 'stalled: every rank is waiting for these ranks');
      }
      const ev = await this.event(Math.min(Defaults.stallWarnMs, cfg.stepTimeoutMs - sinceProgress), `step ${this.committed}`);
      if (ev === null || ev.kind === 'other') continue;
      if (ev.kind === 'joined') {
        if (N < cfg.maxWorkers) joinWanted = true;
        continue;
      }
      if (ev.kind === 'lost') return { kind: 'lost', why: `rank ${ev.rank} (${this.describe(ev.rank)}) was lost: ${ev.reason}` };
      const { rank, msg } = ev;
      heard[rank] = Date.now();
      switch (msg.type) {
        case 'step-done': {
          if (msg.generation !== gen) {
            this.log.warn({ rank, step: msg.step, generation: msg.generation }, 'step report of another generation dropped');
            break;
          }
          const verdict = gate.judge(rank, msg.step);
          if (verdict.action === 'drop') {
            this.log.warn({ code: ErrorCodes.UNEXPECTED_MESSAGE, rank, step: msg.step, why: verdict.why }, 'step report dropped');
            break;
          }
          if (verdict.action === 'evict' || msg.step >= pos.step) {
            const why = verdict.action === 'evict' ? verdict.why : `rank ${rank} reported step ${msg.step}, which was never sent`;
            this.log.warn({ code: ErrorCodes.UNEXPECTED_MESSAGE, rank, step: msg.step, why }, 'step report out of order; evicting that rank');
            this.members[rank]?.conn.terminate();
            return { kind: 'lost', why: `rank ${rank} (${this.describe(rank)}) evicted: ${why}` };
          }
          if (!collectors.has(msg.step)) collectors.set(msg.step, new StepCollector(msg.step, N));
          collectors.get(msg.step)!.add(rank, msg);
          const refused = await commitReady();
          if (refused !== null) return evictRank0(refused);
          break;
        }
        case 'state':
          if (msg.generation === gen && rank === 0 && msg.state) {
            const st = msg.state;
            const p = this.planned.get(st.step - 1);
            // Only states this run asked for, after a planned step, where that step left the sampler.
            const why = !needState.has(st.step - 1) || !p ? `a state after step ${st.step - 1}, which was not asked for`
              : st.epoch !== p.next.epoch || st.cursor !== p.next.cursor ? `epoch ${st.epoch} cursor ${st.cursor} where step ${p.step} ends at epoch ${p.next.epoch} cursor ${p.next.cursor}`
              : this.refuseState(st);
            if (why !== null) return evictRank0(why);
            states.set(st.step, st);
            const refused = await commitReady();
            if (refused !== null) return evictRank0(refused);
          }
          break;
        case 'ring-failed':
          if (msg.generation === gen) return { kind: 'lost', why: await this.ringFailure(rank, msg, `reports a broken ring at step ${msg.step}`) };
          break;
        default:
          this.log.warn({ rank, type: msg.type }, 'unexpected message during training dropped');
      }
    }
  }

  /**
   * A rank reported a broken ring. Usually a neighbour is lost (its socket closes within moments);
   * when every rank still reaches the coordinator, the path between two of them is cut. So the
   * other reports are collected for a short grace period and ring-blame.ts's rule decides whom to
   * drop: their control connections are closed, they reconnect as waiting workers, and they rejoin
   * at a step boundary (a rejoin that breaks the ring again is decided the same way).
   */
  private async ringFailure(rank: number, first: RingFailedMsg, what: string): Promise<string> {
    const gen = this.generation;
    const reports: RingReport[] = [{ rank, peer: first.peer ?? null }];
    const lost = new Map<number, string>();
    const deadline = Date.now() + Defaults.rootCauseGraceMs;
    // Ends early once a rank is lost (its loss explains the rest) or every rank has reported.
    while (Date.now() < deadline && lost.size === 0 && new Set(reports.map((r) => r.rank)).size < this.members.length) {
      const ev = await this.event(deadline - Date.now(), 'the other ranks\' ring reports');
      if (ev === null) break;
      if (ev.kind === 'lost') lost.set(ev.rank, ev.reason);
      else if (ev.kind === 'member' && ev.msg.type === 'ring-failed' && ev.msg.generation === gen) reports.push({ rank: ev.rank, peer: ev.msg.peer ?? null });
    }
    const verdict = decideRingFailure(reports, [...lost.keys()]);
    const named = reports.map((r) => (r.peer ? `${r.rank}->${r.peer.rank} (${r.peer.link})` : `${r.rank}->?`));
    this.log.warn({ generation: gen, reports: named, lost: [...lost.keys()], drop: verdict.drop, rule: verdict.how }, 'ring failure decided');
    for (const r of verdict.drop) if (!lost.has(r)) this.members[r]?.conn.terminate();
    const reported = `rank ${rank} ${what}: ${first.message}`;
    if (lost.size > 0) return `${[...lost].map(([r, why]) => `rank ${r} (${this.describe(r)}) was lost: ${why}`).join('; ')}; ${reported}`;
    if (verdict.drop.length === 0) return `${reported} (reports ${named.join(', ')}: ${verdict.how}; nobody dropped)`;
    return `rank(s) ${verdict.drop.map((r) => `${r} (${this.describe(r)})`).join(', ')} dropped by ${verdict.how} (reports ${named.join(', ')}); ${reported}`;
  }

  /** Ends the generation: survivors stop (now, or at `atStep`) and report; the newest state wins. */
  private async pauseAndAdopt(atStep: number | null): Promise<TrainState[]> {
    const gen = this.generation;
    // Members whose socket is already gone (their close event was consumed) cannot answer.
    const pending = new Set(this.members.flatMap((m, r) => (m.conn.open ? [r] : [])));
    const lost = new Set(this.members.flatMap((m, r) => (m.conn.open ? [] : [r])));
    for (const m of this.members) m.conn.send({ type: 'pause', generation: gen, atStep });
    const deadline = Date.now() + Defaults.stateTimeoutMs;
    const collected: TrainState[] = [];
    while (pending.size > 0) {
      const ev = await this.event(deadline - Date.now(), 'survivors\' states');
      if (ev === null) {
        for (const r of pending) {
          this.log.warn({ rank: r }, 'no state from this survivor in time; dropping it');
          this.members[r]!.conn.terminate();
          lost.add(r);
        }
        break;
      }
      if (ev.kind === 'lost') {
        pending.delete(ev.rank);
        lost.add(ev.rank);
      } else if (ev.kind === 'member' && ev.msg.type === 'state' && ev.msg.generation === gen) {
        pending.delete(ev.rank);
        const why = ev.msg.state ? this.refuseState(ev.msg.state) : null;
        if (why !== null) {
          // A survivor that offers a state this run cannot have trained is not one to keep.
          this.log.warn({ code: ErrorCodes.BAD_MESSAGE, rank: ev.rank, why }, 'survivor\'s state refused; evicting it');
          this.members[ev.rank]!.conn.terminate();
          lost.add(ev.rank);
        } else if (ev.msg.state) collected.push(ev.msg.state);
      }
    }
    this.members = this.members.filter((_, r) => !lost.has(r));
    const newest = collected.reduce((a, st) => (st.step > a.step ? st : a), this.best);
    if (this.committed > newest.step) this.log.warn({ committed: this.committed, newest: newest.step }, 'no survivor holds the committed state yet');
    if (newest !== this.best) this.adopt(newest, 'most advanced survivor');
    this.committed = this.best.step;
    return collected;
  }

  /**
   * A stop between epoch ends: every step handed out is committed, so each rank reports its state
   * after the last one; they must be bit-identical, and the newest becomes the final state.
   */
  private async collectStopState(): Promise<void> {
    const states = await this.pauseAndAdopt(this.committed);
    const sums = states.map((st) => (st.step === this.best.step ? checksum(st.params) : `step ${st.step}`));
    if (sums.length === 0 || sums.some((c) => c !== sums[0])) {
      throw new RingtrainError(ErrorCodes.REPLICA_DIVERGED, `the ranks' states at the stop differ (${sums.join(', ')})`);
    }
    this.finalState = this.best;
    this.stopChecksums = sums;
    this.log.info({ step: this.best.step, epoch: this.best.epoch, cursor: this.best.cursor }, 'run stopped on request');
  }

  /** Takes `st` as the state everyone continues from, accounting for the steps it includes. */
  private adopt(st: TrainState, from: string): void {
    const old = this.best;
    for (let s = this.accountedUpTo; s < st.step; s++) {
      if (!this.planned.has(s)) {
        // Trained under a previous coordinator: all we know is where the sampler stood.
        this.markGap(old, st);
        this.accountedUpTo = st.step;
        break;
      }
      this.account(s);
    }
    this.log.info({ from, step: st.step, epoch: st.epoch, cursor: st.cursor, previous: old.step }, 'state adopted');
    this.best = st;
    this.committed = st.step;
  }

  private account(step: number): void {
    if (step < this.accountedUpTo) return;
    const p = this.planned.get(step)!;
    this.accounting.mark(p.epoch, p.begin, p.end);
    this.samplesTrained += p.end - p.begin;
    this.accountedUpTo = step + 1;
  }

  /**
   * Rank 0's state after step p: evaluate at epoch end, checkpoint, remember as newest. Returns
   * why it was refused instead (its weights are not the ones every rank agreed on), else null.
   */
  private async onState(p: PlannedStep, st: TrainState): Promise<string | null> {
    // Stopped at an epoch's end: states of the steps handed out before the stop are not wanted.
    if (this.stopChecksums !== null) return null;
    const why = this.refuseState(st);
    if (why !== null) return why;
    this.best = st;
    const last = planStep(p.next, this.s.data.size, samplesPerRankStep(this.s.cfg), this.members.length, this.s.cfg.epochs) === null;
    if (endsEpoch(p)) {
      const { test, validation } = this.s.evaluate(st.params);
      const trainLoss = this.epochSamples > 0 ? this.epochLossSum / this.epochSamples : NaN;
      this.epochs.push({ epoch: p.epoch + 1, trainLoss, testLoss: test.loss, testAccuracy: test.accuracy });
      this.log.info({ epoch: p.epoch + 1, of: this.s.cfg.epochs, step: p.step + 1, trainLoss, valLoss: validation?.loss, testLoss: test.loss, testAccuracy: test.accuracy }, 'epoch done');
      await this.s.events.emit('onEpoch', {
        epoch: p.epoch + 1, step: p.step + 1, trainLoss, valLoss: validation?.loss ?? null, valAccuracy: validation?.accuracy ?? null,
        testLoss: test.loss, testAccuracy: test.accuracy, saveModel: (dir) => this.s.saveModel(st.params, dir, st.step),
      });
      this.epochLossSum = 0;
      this.epochSamples = 0;
      // A stop asked for at an epoch's end ends the run with exactly the weights just evaluated:
      // every rank reported this state's checksum (epoch ends ask for it) and it matched.
      if (this.stopping && !last && this.checksums.verdict(st) === 'agrees') {
        this.finalState = st;
        this.stopChecksums = this.members.map(() => checksum(st.params));
        this.log.info({ epoch: p.epoch + 1, step: st.step }, 'run stopped on request at the end of an epoch');
      }
    }
    if (last) this.finalState = st;
    if (this.s.cfg.output) {
      await saveCheckpoint(this.s.cfg.output, {
        fingerprint: this.s.fingerprint, generation: this.generation, state: st, epochs: this.epochs, epochLossSum: this.epochLossSum,
        epochSamples: this.epochSamples, samplesPerEpoch: this.accounting.report(st.epoch).samplesPerEpoch, checksums: this.checksums.entries(),
      });
      this.log.debug({ step: st.step }, 'checkpoint written');
    }
    return null;
  }

  private meanTimings(): StepTimings {
    const n = Math.max(1, this.timedSteps);
    const t = this.timingSums;
    return { waitMs: t.waitMs / n, computeMs: t.computeMs / n, allreduceMs: t.allreduceMs / n, updateMs: t.updateMs / n };
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

  /**
   * Ends the run cleanly (early stopping): no further batches are handed out. Asked during an
   * epoch's end (its onEpoch event), the state just evaluated is final; otherwise the steps
   * already handed out (at most Defaults.prefetchSteps) complete and every rank's state after
   * them is collected. execute() then returns as at a normal end, so the model is saved.
   */
  stop(): void {
    this.stopping = true;
  }

  /** The newest state every rank agreed on (after interrupt(): the survivors' newest). */
  latestState(): TrainState {
    return this.best;
  }

  /** Sends `finish` to every member and waits for them to close. */
  async finish(): Promise<void> {
    for (const m of this.members) m.conn.send({ type: 'finish' });
    await Promise.all(this.members.map((m) => m.conn.closed(Defaults.finishTimeoutMs)));
  }

  /** Tells every connected worker why the run failed. */
  failAll(code: ErrorCode, message: string): void {
    for (const m of this.members) m.conn.reject(code, message);
    for (const p of this.waiting.values()) p.conn.reject(code, message);
  }
}
