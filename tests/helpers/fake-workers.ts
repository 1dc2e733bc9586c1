/**
 * In-memory workers for the run executor (coordinator/run.ts) with no sockets: a fake control
 * server (the real event mailbox), fake connections, and workers that answer the coordinator as
 * the real ones do. Their ring is simulated: a step is applied and reported by every rank only
 * once every rank of the generation has its batch and none has died, as an all-reduce would.
 */
import { Mailbox } from '../../src/shared/base/mailbox.js';
import type { ControlServer, ServerEvent, WorkerConn } from '../../src/shared/transport/control-server.js';
import type { CoordinatorToWorker, ModelFingerprint, TrainState, WorkerToCoordinator } from '../../src/shared/protocol/protocol.js';
import { checksum } from '../../src/shared/kernels/flat.js';
import { hello, stepDone } from './coordinator-fakes.js';

/** The model every fake worker builds (the coordinator's own must be the same). */
export const FAKE_MODEL: ModelFingerprint = { weights: [{ name: 'w', shape: [4], dtype: 'float32' }], paramCount: 4, architecture: 'fake' };

/** A control connection: what the coordinator sends goes straight to its worker. */
export class FakeConn {
  open = true;
  lastSeen = Date.now();
  constructor(readonly id: number, private readonly world: FakeWorld, private readonly worker: FakeWorker) {}
  send(msg: CoordinatorToWorker): void {
    if (this.open) this.worker.receive(msg);
  }
  reject(code: string, message: string): void {
    this.worker.refusedWith = code;
    this.send({ type: 'error', code: code as never, message });
    this.drop('rejected');
  }
  terminate(): void {
    this.drop('terminated');
  }
  close(): void {
    this.drop('closed');
  }
  closed(): Promise<void> {
    return Promise.resolve();
  }
  /** The socket goes: the coordinator sees it closed. */
  drop(reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.world.push({ kind: 'closed', conn: this, reason });
  }
}

/** One generation's simulated ring. */
class FakeRing {
  private readonly got = new Map<number, number>();
  broken = false;
  constructor(readonly generation: number, readonly ranks: FakeWorker[]) {}
  batch(step: number): void {
    const n = (this.got.get(step) ?? 0) + 1;
    this.got.set(step, n);
    if (n === this.ranks.length && !this.broken) for (const w of this.ranks) w.apply(step);
  }
}

export class FakeWorker {
  conn: FakeConn | null = null;
  state: TrainState | null = null;
  rank = -1;
  generation = -1;
  refusedWith: string | null = null;
  /** Steps this worker reported (every report, duplicates included). */
  readonly reported: number[] = [];
  /** Dies (its socket closes) on receiving the batch of this step, before computing it. */
  dieAtStep: number | null = null;
  /** Reports this step twice. */
  duplicateAt: number | null = null;
  /** Freezes on receiving the batch of this step: it never computes it, and answers no more pings. */
  freezeAtStep: number | null = null;
  frozen = false;
  /** Closes its socket instead of answering a pause. */
  dieOnPause = false;
  /** Called after it reports a step (scenario hooks: another worker joins, ...). */
  afterReport: ((step: number) => void) | null = null;
  /** Called when it receives `start`. */
  onStart: ((generation: number) => void) | null = null;
  private readonly batches = new Map<number, { nextEpoch: number; nextCursor: number; checksum: boolean; sendState: boolean }>();

  constructor(private readonly world: FakeWorld, readonly pid: number) {}

  private say(msg: WorkerToCoordinator): void {
    if (this.conn?.open) this.world.push({ kind: 'message', conn: this.conn, msg });
  }

  receive(msg: CoordinatorToWorker): void {
    switch (msg.type) {
      case 'start':
        this.rank = msg.rank;
        this.generation = msg.generation;
        this.state = { ...msg.state, params: msg.state.params.slice() };
        this.batches.clear();
        this.world.joinRing(this, msg.generation, msg.worldSize);
        this.onStart?.(msg.generation);
        this.say({ type: 'ring-ready', generation: msg.generation, engine: 'cpu', engineReason: 'test', device: 'CPU', threads: null, fingerprint: FAKE_MODEL, localData: false });
        break;
      case 'batch':
        if (this.frozen || msg.step === this.freezeAtStep) {
          this.frozen = true;
          return;
        }
        if (msg.step === this.dieAtStep) {
          if (this.world.ring?.generation === this.generation) this.world.ring.broken = true;
          this.conn?.drop('socket closed');
          return;
        }
        this.batches.set(msg.step, { nextEpoch: msg.nextEpoch, nextCursor: msg.nextCursor, checksum: msg.checksum, sendState: msg.sendState });
        if (this.world.ring?.generation === this.generation) this.world.ring.batch(msg.step);
        break;
      case 'pause':
        if (this.frozen) return;
        if (this.dieOnPause) this.conn?.drop('socket closed');
        else this.say({ type: 'state', generation: msg.generation, state: this.state });
        break;
      case 'finish':
        this.conn?.drop('finished');
        break;
      default:
        break;
    }
  }

  /** The step went through the (simulated) all-reduce: apply it and report. */
  apply(step: number): void {
    const b = this.batches.get(step);
    if (!b || !this.state || this.state.step !== step) return;
    this.state = { ...this.state, step: step + 1, epoch: b.nextEpoch, cursor: b.nextCursor };
    const report = stepDone(this.generation, step, { checksum: b.checksum ? checksum(this.state.params) : null });
    this.say(report);
    this.reported.push(step);
    if (step === this.duplicateAt) {
      this.say(report);
      this.reported.push(step);
    }
    if (b.sendState) this.say({ type: 'state', generation: this.generation, state: this.state });
    this.afterReport?.(step);
  }
}

/** The coordinator's side of the fake network: the server's mailbox, and worker connections. */
export class FakeWorld {
  readonly events = new Mailbox<ServerEvent>();
  readonly server = { events: this.events } as unknown as ControlServer;
  ring: FakeRing | null = null;
  private nextId = 1;
  private pendingRing: { generation: number; size: number; ranks: FakeWorker[] } | null = null;

  push(ev: { kind: 'message'; conn: FakeConn; msg: WorkerToCoordinator } | { kind: 'closed'; conn: FakeConn; reason: string }): void {
    this.events.push(ev as unknown as ServerEvent);
  }

  private readonly workers: FakeWorker[] = [];

  /** Every worker that is not frozen answers the heartbeat every `everyMs` (its lastSeen moves). */
  pongs(everyMs: number): () => void {
    const t = setInterval(() => {
      for (const w of this.workers) if (!w.frozen && w.conn) w.conn.lastSeen = Date.now();
    }, everyMs);
    return () => clearInterval(t);
  }

  /** A new worker connects and says hello. */
  connect(pid: number): FakeWorker {
    const w = new FakeWorker(this, pid);
    w.conn = new FakeConn(this.nextId++, this, w);
    this.workers.push(w);
    this.push({ kind: 'message', conn: w.conn, msg: hello(pid) });
    return w;
  }

  joinRing(w: FakeWorker, generation: number, size: number): void {
    if (this.pendingRing?.generation !== generation) this.pendingRing = { generation, size, ranks: [] };
    this.pendingRing.ranks[w.rank] = w;
    if (this.pendingRing.ranks.filter(Boolean).length === size) this.ring = new FakeRing(generation, this.pendingRing.ranks);
  }
}

/** A fake connection as the coordinator's type (the executor only uses its public surface). */
export function asConn(c: FakeConn): WorkerConn {
  return c as unknown as WorkerConn;
}
