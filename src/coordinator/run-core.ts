/**
 * The run executor's state and its between-training phases (gather, form, ring failure, pause and
 * adopt). Each phase waits for events with the deadline its decision module gives, feeds them to
 * that module and performs the actions it returns; run.ts supplies the connections (perform,
 * event, lastSeen), run-train.ts the train phase.
 */
import { Defaults } from '../shared/base/constants.js';
import { ErrorCodes } from '../shared/base/errors.js';
import type { Logger } from '../shared/base/logger.js';
import type { RingFailedMsg, TrainState } from '../shared/protocol/protocol.js';
import { newNonce } from '../shared/protocol/auth.js';
import { isJobPath } from '../jobs/registry.js';
import type { EpochMetrics } from './checkpoint.js';
import { StepLedger } from './accounting.js';
import { ChecksumLog } from './state-check.js';
import { assertSameModel } from './consistency.js';
import { samplesPerRankStep } from '../shared/config/config.js';
import type { Action, Clock } from './actions.js';
import { Gathering, Membership, type MemberEvent, type Peer } from './membership.js';
import { PauseRound, StateJudge, pickReconnected, reconnectMaxStep } from './adoption.js';
import { FormingRound, startActions } from './forming.js';
import { RingFailureRound } from './ring-blame.js';
import { RunTally } from './run-tally.js';
import type { RunSetup } from './run.js';

export abstract class RunCore {
  protected readonly m: Membership;
  protected readonly ledger: StepLedger;
  protected readonly judge: StateJudge;
  protected readonly tally: RunTally;
  protected readonly clock: Clock;
  protected generation: number;
  /** The state everyone continues from: the newest committed (or adopted) one. */
  protected best: TrainState;
  /** Steps committed (every rank reported); the next step to commit. */
  protected committed: number;
  protected readonly epochs: EpochMetrics[];
  protected engines: string[] = [];
  protected devices: string[] = [];
  protected threads: (number | null)[] = [];
  /** Per rank of this generation: it holds our training split, so its batches carry indices only. */
  protected localData: boolean[] = [];
  protected generationsFormed = 0;
  protected committedStepsLost = 0;
  /**
   * The most steps ever committed: a generation that starts from fewer has lost committed steps.
   * Counted when a generation forms, not when one ends, since survivors that reconnect (after a
   * coordinator freeze) may still bring the newest state back.
   */
  protected highWater: number;
  /** performance.now() (ms since this process started) when the first step was committed. */
  protected firstCommitAt: number | null = null;
  protected finalState: TrainState | null = null;
  /** Ctrl-C: end the generation, collect the survivors' states, then stop (see Run.interrupt()). */
  protected interrupted = false;

  constructor(protected readonly s: RunSetup, isOpen: (id: number) => boolean) {
    const ck = s.resume;
    this.clock = s.clock ?? Date.now;
    this.best = ck ? ck.state : s.initial;
    this.generation = ck ? ck.generation : 0;
    this.committed = this.best.step;
    this.highWater = this.best.step;
    this.epochs = ck ? [...ck.epochs] : [];
    this.m = new Membership({ maxWorkers: s.cfg.maxWorkers, job: s.cfg.job, jobIsModule: isJobPath(s.cfg.job) }, isOpen);
    this.ledger = new StepLedger(s.data.size, s.cfg.epochs, this.best);
    this.judge = new StateJudge({ paramCount: s.modelFingerprint.paramCount, dataSize: s.data.size, epochs: s.cfg.epochs, optimizer: s.optimizer }, new ChecksumLog(ck?.checksums ?? []));
    this.tally = new RunTally(s.cfg.maxNonfiniteSkips, ck?.epochLossSum ?? 0, ck?.epochSamples ?? 0);
  }

  protected get log(): Logger {
    return this.s.log;
  }

  /** Performs the decisions' actions (sockets and the log). */
  protected abstract perform(actions: readonly Action[]): void;
  /** The next inbound event, classified by membership (null after `timeoutMs`). */
  protected abstract event(timeoutMs: number, what: string): Promise<MemberEvent | null>;

  /** Why `st` cannot be adopted now (at most the steps planned so far), or null. */
  protected refuseState(st: TrainState, maxStep = this.ledger.plannedUpTo): string | null {
    return this.judge.refuse(st, maxStep);
  }

  /** Members (survivors) plus waiting workers, until --min-workers, then a grace for more. */
  protected async gather(): Promise<void> {
    const { minWorkers, maxWorkers, rendezvousTimeoutMs } = this.s.cfg;
    const g = new Gathering({ minWorkers, maxWorkers, rendezvousTimeoutMs, graceMs: this.generationsFormed === 0 ? this.s.cfg.rendezvousGraceMs : 0 }, this.clock());
    if (this.m.count < minWorkers) this.log.info({ have: this.m.count, need: minWorkers }, 'waiting for workers');
    for (;;) {
      const next = g.next(this.m.count, this.clock());
      if (next.kind === 'form') return;
      if (next.kind === 'fail') throw next.error;
      const ev = await this.event(next.ms, 'workers');
      if (ev?.kind === 'lost') {
        this.log.warn({ rank: ev.rank, reason: ev.reason }, 'member lost between generations');
        this.m.drop(new Set([ev.rank]));
      }
    }
  }

  /** The reconnected worker to ask for its newer state (asked here), or null. */
  protected reconnectedToAsk(): Peer | null {
    const chosen = pickReconnected(this.m.waiting.values(), this.s.fingerprint, this.best.step);
    if (!chosen) return null;
    this.log.info({ conn: chosen.id, theirs: chosen.hello.appliedSteps, ours: this.best.step }, 'a reconnected worker holds a newer state; fetching it');
    this.perform([{ do: 'send', to: chosen.id, msg: { type: 'pause', generation: this.generation, atStep: null } }]);
    return chosen;
  }

  /** The state the reconnected worker sent: adopted unless refused. */
  protected onReconnectedState(from: Peer, st: TrainState): void {
    const fresh = this.generationsFormed === 0 && this.s.resume !== null;
    const maxStep = reconnectMaxStep({ fresh, ourStep: this.best.step, checksumFrontier: this.judge.checksums.frontier, checkpointEvery: this.s.cfg.checkpointEvery, prefetchSteps: Defaults.prefetchSteps, plannedUpTo: this.ledger.plannedUpTo });
    const why = this.refuseState(st, maxStep);
    if (why === null) this.adopt(st, 'reconnected worker');
    else this.log.warn({ code: ErrorCodes.BAD_MESSAGE, conn: from.id, host: from.hello.host, why }, 'a reconnected worker\'s state refused; continuing from ours');
  }

  /** Forms the next generation; returns null when the ring is up, or why it failed. */
  protected async form(): Promise<string | null> {
    this.perform(this.m.promote());
    this.generation += 1;
    this.generationsFormed += 1;
    const members = this.m.members;
    const N = members.length;
    const round = new FormingRound(N, this.generation);
    this.engines = round.engines;
    this.devices = round.devices;
    this.threads = round.threads;
    this.localData = round.localData;
    this.log.info({ generation: this.generation, workers: N, step: this.best.step, epoch: this.best.epoch, cursor: this.best.cursor }, 'forming generation');
    // Whatever was planned beyond the adopted state is re-planned for this world size. Kept until
    // now: a reconnecting survivor may bring back planned steps.
    this.ledger.forgetFrom(this.best.step);
    if (this.best.step < this.highWater) {
      this.committedStepsLost += this.highWater - this.best.step;
      this.log.error({ committed: this.highWater, adopted: this.best.step }, 'committed steps lost');
      this.highWater = this.best.step;
    }
    const { cfg, data } = this.s;
    this.perform(startActions(members, {
      generation: this.generation, job: cfg.job, params: this.s.trainParams, state: this.best, fingerprint: this.s.fingerprint, ringSalt: newNonce(), dataFingerprint: data.fingerprint,
    }));
    // Ranks start their engine after the ring: GPU engines may take minutes the first time.
    const deadline = this.clock() + Defaults.ringConnectTimeoutMs * 2 + Defaults.engineStartTimeoutMs;
    while (!round.complete) {
      const ev = await this.event(deadline - this.clock(), 'the ring to form');
      if (ev === null) return `ranks ${round.missing().join(', ')} did not form the ring in time`;
      if (ev.kind === 'lost') return `rank ${ev.rank} was lost while forming the ring: ${ev.reason}`;
      if (ev.kind !== 'member') continue;
      const { rank, msg } = ev;
      if (msg.type === 'ring-ready' && round.onReady(rank, msg)) {
        this.log.info({ generation: this.generation, rank, workerPid: members[rank]!.hello.pid, engine: msg.engine, reason: msg.engineReason, device: msg.device, threads: msg.threads, data: round.localData[rank] ? 'local' : 'streamed' }, 'rank ready');
      } else if (msg.type === 'ring-failed' && msg.generation === this.generation) {
        return this.ringFailure(rank, msg, 'could not form the ring');
      }
    }
    // A rank with a different model would corrupt the sum: refuse before the first step.
    assertSameModel(this.s.modelFingerprint, round.fingerprints);
    this.perform(members.map((p) => ({ do: 'send', to: p.id, msg: { type: 'go', generation: this.generation } })));
    this.log.info({ generation: this.generation, workers: N }, 'ring formed; training');
    const perStep = samplesPerRankStep(cfg) * N;
    await this.s.events.emit('onStart', {
      job: this.s.jobName, generation: this.generation, epochs: cfg.epochs, stepsPerEpoch: Math.ceil(data.size / perStep),
      hyper: { job: this.s.jobName, seed: cfg.seed, epochs: cfg.epochs, batchSize: cfg.batchSize, accumulate: cfg.accumulate ?? 1, lr: cfg.lr, workers: N, compress: cfg.compress ?? 'none' },
      // An estimate once membership has changed: the world size of this generation for what is left.
      totalSteps: this.best.step + Math.ceil(((cfg.epochs - this.best.epoch) * data.size - this.best.cursor) / perStep),
      output: cfg.output ?? '',
      workers: members.map((m, rank) => ({ rank, host: m.hello.host, pid: m.hello.pid, engine: this.engines[rank] ?? '' })),
    });
    return null;
  }

  /**
   * A rank reported a broken ring. Usually a neighbour is lost (its socket closes within moments);
   * when every rank still reaches the coordinator, the path between two of them is cut. So the
   * other reports are collected for a short grace period and ring-blame.ts's rule decides whom to
   * drop: their control connections are closed, they reconnect as waiting workers, and they rejoin
   * at a step boundary (a rejoin that breaks the ring again is decided the same way).
   */
  protected async ringFailure(rank: number, first: RingFailedMsg, what: string): Promise<string> {
    const gen = this.generation;
    const round = new RingFailureRound({ rank, peer: first.peer ?? null }, this.m.members.length, this.clock(), Defaults.rootCauseGraceMs);
    while (round.collecting(this.clock())) {
      const ev = await this.event(round.deadline - this.clock(), 'the other ranks\' ring reports');
      if (ev === null) break;
      if (ev.kind === 'lost') round.onLost(ev.rank, ev.reason);
      else if (ev.kind === 'member' && ev.msg.type === 'ring-failed' && ev.msg.generation === gen) round.onReport({ rank: ev.rank, peer: ev.msg.peer ?? null });
    }
    const d = round.decide(`rank ${rank} ${what}: ${first.message}`, (r) => this.m.describe(r));
    this.log.warn({ generation: gen, reports: d.named, lost: d.lost, drop: d.verdict.drop, rule: d.verdict.how }, 'ring failure decided');
    this.perform(d.evict.flatMap((r) => (this.m.members[r] ? [{ do: 'terminate', to: this.m.members[r].id } as const] : [])));
    return d.why;
  }

  /** Ends the generation: survivors stop (now, or at `atStep`) and report; the newest state wins. */
  protected async pauseAndAdopt(atStep: number | null): Promise<void> {
    const round = new PauseRound(this.m.members.map((p) => p.id), this.m.openRanks(), this.generation, this.clock(), Defaults.stateTimeoutMs);
    this.perform(round.start(atStep));
    while (round.waiting) {
      const ev = await this.event(round.deadline - this.clock(), 'survivors\' states');
      if (ev === null) this.perform(round.onTimeout());
      else if (ev.kind === 'lost') round.onLost(ev.rank);
      else if (ev.kind === 'member' && ev.msg.type === 'state') this.perform(round.onState(ev.rank, ev.msg, (st) => this.refuseState(st)));
    }
    this.m.drop(round.lost);
    const newest = round.newest(this.best);
    if (this.committed > newest.step) this.log.warn({ committed: this.committed, newest: newest.step }, 'no survivor holds the committed state yet');
    if (newest !== this.best) this.adopt(newest, 'most advanced survivor');
    this.committed = this.best.step;
  }

  /** Takes `st` as the state everyone continues from, accounting for the steps it includes. */
  protected adopt(st: TrainState, from: string): void {
    const old = this.best;
    this.ledger.adopt(old, st);
    this.log.info({ from, step: st.step, epoch: st.epoch, cursor: st.cursor, previous: old.step }, 'state adopted');
    this.best = st;
    this.committed = st.step;
  }
}
