/**
 * Forming a generation, as decisions: the `start` message each rank gets (its rank, successor,
 * the mesh peers, the state to start from), and the collection of `ring-ready` answers until every
 * rank is up. The executor sends, waits with the deadline, checks the model fingerprints and says go.
 */
import type { ModelFingerprint, RingReadyMsg, TrainParams, TrainState } from '../shared/protocol/protocol.js';
import type { Action } from './actions.js';
import type { Peer } from './membership.js';

/** What every rank of a generation is told besides its place in the ring. */
export interface StartCommon {
  generation: number;
  job: string;
  params: TrainParams;
  state: TrainState;
  fingerprint: string;
  /** Fresh per generation: ranks derive the generation's ring key from it and the token. */
  ringSalt: Uint8Array;
  dataFingerprint: string;
}

/** One `start` per member: rank r's successor is rank r+1's ring address (mod N). */
export function startActions(members: readonly Peer[], c: StartCommon): Action[] {
  const N = members.length;
  // Every rank's ring address: the mesh links of the small-message all-reduce.
  const peers = N > 1 ? members.map((m) => m.hello.ringUrl) : null;
  return members.map((m, rank) => ({
    do: 'send',
    to: m.id,
    msg: {
      type: 'start', generation: c.generation, rank, worldSize: N, successor: N > 1 ? members[(rank + 1) % N]!.hello.ringUrl : null, peers,
      job: c.job, params: c.params, state: c.state, fingerprint: c.fingerprint, ringSalt: c.ringSalt, dataFingerprint: c.dataFingerprint,
    },
  }));
}

/** Each rank's ring-ready answer, collected until every rank is up. */
export class FormingRound {
  readonly engines: string[];
  readonly devices: string[];
  readonly threads: (number | null)[];
  /** Per rank: it holds our training split, so its batches carry indices only. */
  readonly localData: boolean[];
  readonly fingerprints: ModelFingerprint[] = [];
  private readonly ready = new Set<number>();

  constructor(private readonly worldSize: number, private readonly generation: number) {
    this.engines = new Array<string>(worldSize).fill('');
    this.devices = new Array<string>(worldSize).fill('');
    this.threads = new Array<number | null>(worldSize).fill(null);
    this.localData = new Array<boolean>(worldSize).fill(false);
  }

  get complete(): boolean {
    return this.ready.size >= this.worldSize;
  }

  /** Ranks not ready yet. */
  missing(): number[] {
    return Array.from({ length: this.worldSize }, (_, r) => r).filter((r) => !this.ready.has(r));
  }

  /** Records rank `rank`'s answer; false when it belongs to another generation. */
  onReady(rank: number, msg: RingReadyMsg): boolean {
    if (msg.generation !== this.generation) return false;
    this.ready.add(rank);
    this.engines[rank] = msg.engine;
    this.devices[rank] = msg.device ?? '';
    this.threads[rank] = msg.threads ?? null;
    this.fingerprints[rank] = msg.fingerprint;
    this.localData[rank] = msg.localData === true;
    return true;
  }
}
