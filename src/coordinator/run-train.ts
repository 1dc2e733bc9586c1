/**
 * The train phase of the run executor: it streams the batches the step pipeline plans, feeds
 * reports and states to it, commits what it says is complete, asks the stall inspector how long
 * to wait and whom to blame, and evaluates and checkpoints rank 0's states.
 */
import { Defaults } from '../shared/base/constants.js';
import { ErrorCodes } from '../shared/base/errors.js';
import type { TrainState } from '../shared/protocol/protocol.js';
import { endsEpoch, planStep, type PlannedStep } from '../shared/data/sampler.js';
import { samplesPerRankStep } from '../shared/config/config.js';
import { saveCheckpoint } from './checkpoint.js';
import type { CommittedStep } from './step-control.js';
import { JoinPolicy } from './membership.js';
import { StepPipeline, type Dispatch } from './step-pipeline.js';
import { StallInspector } from './stall-inspector.js';
import { RunCore } from './run-core.js';
import { checksum } from '../shared/kernels/flat.js';

export type TrainEnd = { kind: 'done' } | { kind: 'lost'; why: string } | { kind: 'join' } | { kind: 'stop' };

export abstract class RunTrain extends RunCore {
  /** A connection's last pong (ms, as the clock), for the stall inspector. */
  protected abstract lastSeen(id: number): number;

  /** Trains until the run is done, a member is lost, or a newcomer waits at a step boundary. */
  protected async train(): Promise<TrainEnd> {
    const { cfg, data } = this.s;
    const members = this.m.members;
    const N = members.length;
    const gen = this.generation;
    const pipe = new StepPipeline({
      dataSize: data.size, perRankStep: samplesPerRankStep(cfg), worldSize: N, epochs: cfg.epochs,
      checkpointEvery: cfg.checkpointEvery, checksumEvery: cfg.checksumEvery, prefetchSteps: Defaults.prefetchSteps,
    }, gen, this.best);
    const join = new JoinPolicy(this.m.waiting.size, N, cfg.maxWorkers, this.best.step);
    const stall = new StallInspector(N, this.clock(), { stepTimeoutMs: cfg.stepTimeoutMs, warnMs: Defaults.stallWarnMs, slackMs: Defaults.heartbeatIntervalMs });
    const send = (): void => {
      for (const d of pipe.dispatch(this.committed, join.pending || this.stopping)) this.sendBatch(d, gen);
    };
    /** Commits what every rank agreed on; returns why rank 0's state was refused, if it was. */
    const commitReady = async (): Promise<string | null> => {
      for (let c = pipe.takeCommit(this.committed); c !== null; c = pipe.takeCommit(this.committed)) {
        stall.progressed(this.clock());
        await this.commit(c);
      }
      // States are handled in step order, once their step is committed.
      for (let t = pipe.takeState(this.committed); t !== null; t = pipe.takeState(this.committed)) {
        const refused = await this.onState(this.ledger.planned.get(t.step)!, t.state);
        if (refused !== null) return refused;
      }
      send();
      return null;
    };
    /** Rank 0 sent a state that is not the committed one: it goes, the others go on. */
    const evictRank0 = (why: string): TrainEnd => {
      this.log.warn({ code: ErrorCodes.BAD_MESSAGE, rank: 0, why }, 'rank 0\'s state refused; evicting it');
      if (members[0]) this.perform([{ do: 'terminate', to: members[0].id }]);
      return { kind: 'lost', why: `rank 0 (${this.m.describe(0)}) sent a bad state: ${why}` };
    };

    send();
    for (;;) {
      if (this.interrupted) return { kind: 'lost', why: 'interrupted' };
      // Stopped at an epoch's end: its state is the final one (see onState).
      if (this.stopChecksums !== null) return { kind: 'done' };
      if (join.check(this.committed)) this.log.info('a worker is waiting to join; pausing at the next step boundary');
      const boundary = pipe.boundary(this.committed);
      if (boundary === 'done') return { kind: 'done' };
      if (boundary === 'boundary' && join.pending) return { kind: 'join' };
      if (boundary === 'boundary' && this.stopping) return { kind: 'stop' };
      const now = this.clock();
      const due = stall.due(now);
      const check = stall.check(now, due ? pipe.missing(this.committed) : null, due ? members.map((p) => this.lastSeen(p.id)) : []);
      if (check.kind === 'timeout') {
        const { culprits, how } = check.blame;
        this.perform(culprits.flatMap((r) => (members[r] ? [{ do: 'terminate', to: members[r].id } as const] : [])));
        const who = culprits.length > 0 ? `rank(s) ${culprits.map((r) => `${r} (${this.m.describe(r)})`).join(', ')}, by ${how}` : 'no rank in particular (none stands out; nobody evicted)';
        return { kind: 'lost', why: `step ${this.committed} timed out after ${cfg.stepTimeoutMs} ms waiting for ${who}` };
      }
      if (check.warn) this.log.warn({ step: this.committed, ...check.warn }, 'stalled: every rank is waiting for these ranks');
      const ev = await this.event(check.ms, `step ${this.committed}`);
      if (ev === null || ev.kind === 'other') continue;
      if (ev.kind === 'joined') {
        join.onJoined();
        continue;
      }
      if (ev.kind === 'lost') return { kind: 'lost', why: `rank ${ev.rank} (${this.m.describe(ev.rank)}) was lost: ${ev.reason}` };
      const { rank, msg } = ev;
      stall.heardFrom(rank, this.clock());
      switch (msg.type) {
        case 'step-done': {
          const out = pipe.onReport(rank, msg);
          if (out.kind === 'other-generation') {
            this.log.warn({ rank, step: msg.step, generation: msg.generation }, 'step report of another generation dropped');
          } else if (out.kind === 'drop') {
            this.log.warn({ code: ErrorCodes.UNEXPECTED_MESSAGE, rank, step: msg.step, why: out.why }, 'step report dropped');
          } else if (out.kind === 'evict') {
            this.log.warn({ code: ErrorCodes.UNEXPECTED_MESSAGE, rank, step: msg.step, why: out.why }, 'step report out of order; evicting that rank');
            if (members[rank]) this.perform([{ do: 'terminate', to: members[rank].id }]);
            return { kind: 'lost', why: `rank ${rank} (${this.m.describe(rank)}) evicted: ${out.why}` };
          } else {
            const refused = await commitReady();
            if (refused !== null) return evictRank0(refused);
          }
          break;
        }
        case 'state':
          if (msg.generation === gen && rank === 0 && msg.state) {
            const why = pipe.onState(msg.state, (step) => this.ledger.planned.get(step), (st) => this.refuseState(st));
            if (why !== null) return evictRank0(why);
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

  /** Sends one planned step to every rank: indices to ranks holding our split, rows to the rest. */
  private sendBatch(d: Dispatch, gen: number): void {
    const { p, wantState, wantChecksum } = d;
    const data = this.s.data;
    this.ledger.plan(p);
    this.perform(this.m.members.map((m, rank) => {
      // A rank holding our split gets only indices (a few hundred bytes): they fit ahead in the
      // socket buffers, so its prefetched batches are there when its steps start.
      const idx = data.indices(p, rank);
      return {
        do: 'send', to: m.id, msg: {
          type: 'batch', generation: gen, step: p.step, epoch: p.epoch, count: idx.length, nextEpoch: p.next.epoch, nextCursor: p.next.cursor,
          ...(this.localData[rank] ? { indices: idx } : data.rows(idx)), checksum: wantChecksum, sendState: wantState && rank === 0,
        },
      } as const;
    }));
  }

  /** Commits a step every rank agreed on: counts, accounts, and tells the observers. */
  private async commit(commit: CommittedStep): Promise<void> {
    const p = this.ledger.planned.get(commit.step)!;
    this.committed += 1;
    this.firstCommitAt ??= performance.now();
    this.highWater = Math.max(this.highWater, this.committed);
    if (commit.checksums[0]) this.judge.checksums.record(commit.step + 1, commit.checksums[0]);
    this.ledger.account(commit.step);
    this.tally.onCommit(commit);
    if (commit.skipped) {
      this.log.warn({ code: ErrorCodes.NON_FINITE, step: commit.step, loss: commit.loss }, 'all-reduced loss or gradient not finite: every rank skipped this update');
      await this.s.events.emit('onNonFiniteSkip', commit.step);
    }
    this.log.debug({ step: commit.step, epoch: p.epoch, loss: commit.loss, samples: commit.samples, ...commit.timings }, 'step committed');
    await this.s.events.emit('onStep', { step: commit.step, epoch: p.epoch, loss: commit.loss, samples: commit.samples, lr: this.s.lrAt(commit.step), timings: commit.timings, rankTimings: commit.rankTimings });
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
    const { cfg } = this.s;
    const last = planStep(p.next, this.s.data.size, samplesPerRankStep(cfg), this.m.members.length, cfg.epochs) === null;
    if (endsEpoch(p)) {
      const { test, validation } = this.s.evaluate(st.params);
      const trainLoss = this.tally.endEpoch();
      this.epochs.push({ epoch: p.epoch + 1, trainLoss, testLoss: test.loss, testAccuracy: test.accuracy });
      this.log.info({ epoch: p.epoch + 1, of: cfg.epochs, step: p.step + 1, trainLoss, valLoss: validation?.loss, testLoss: test.loss, testAccuracy: test.accuracy }, 'epoch done');
      await this.s.events.emit('onEpoch', {
        epoch: p.epoch + 1, step: p.step + 1, trainLoss, valLoss: validation?.loss ?? null, valAccuracy: validation?.accuracy ?? null,
        testLoss: test.loss, testAccuracy: test.accuracy, saveModel: (dir) => this.s.saveModel(st.params, dir, st.step),
      });
      // A stop asked for at an epoch's end ends the run with exactly the weights just evaluated:
      // every rank reported this state's checksum (epoch ends ask for it) and it matched.
      if (this.stopping && !last && this.judge.checksums.verdict(st) === 'agrees') {
        this.finalState = st;
        const sum = checksum(st.params);
        this.stopChecksums = this.m.members.map(() => sum);
        this.log.info({ epoch: p.epoch + 1, step: st.step }, 'run stopped on request at the end of an epoch');
      }
    }
    if (last) this.finalState = st;
    if (cfg.output) {
      await saveCheckpoint(cfg.output, {
        fingerprint: this.s.fingerprint, generation: this.generation, state: st, epochs: this.epochs, epochLossSum: this.tally.epochLossSum,
        epochSamples: this.tally.epochSamples, samplesPerEpoch: this.ledger.accounting.report(st.epoch).samplesPerEpoch, checksums: this.judge.checksums.entries(),
      });
      this.log.debug({ step: st.step }, 'checkpoint written');
    }
    return null;
  }
}
