/**
 * The data service: holds the training split and cuts each rank's share of a planned step out of
 * it. Ranks that hold the same split themselves (matching dataset fingerprint) receive only the
 * indices of their share and gather the rows with the same `gatherRows`; the others receive
 * ready-made rows and need neither the dataset nor the sampler. A file-backed split
 * (`--data-file`) is only an index here: the row count and the file's fingerprint; every rank
 * reads its own rows from its copy of the file, so there is nothing to stream.
 */
import { createHash } from 'node:crypto';
import type { Job, Rows, Split } from '../shared/job/job.js';
import { specOf } from '../shared/job/spec.js';
import { datasetFingerprint, gatherRows, type RowLayout } from '../shared/data/dataset.js';
import { epochOrder, rankShare, type PlannedStep } from '../shared/data/sampler.js';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import { PackReader } from '../shared/data/pack-reader.js';
import { assertJobLayout } from '../shared/data/pack-format.js';

export class DataService {
  private readonly layout: RowLayout;
  private order: { epoch: number; order: Uint32Array } | null = null;
  /** The split's fingerprint, computed once at start (a pass over the data), before any worker asks. */
  readonly fingerprint: string;
  /** Training samples; for a file-backed split, its row count. */
  readonly size: number;
  /** The rows, or null when they live in a packed file on the workers. */
  private readonly data: Split | null;

  constructor(data: Split | { file: string; rows: number; fingerprint: string }, job: Job, private readonly seed: number) {
    this.layout = specOf(job).tensors;
    if ('file' in data) {
      this.data = null;
      this.size = data.rows;
      this.fingerprint = data.fingerprint;
    } else {
      this.data = data;
      this.size = data.size;
      this.fingerprint = datasetFingerprint(data, this.layout);
    }
  }

  /**
   * The index of a packed training file: its header is read and checked against the job (shapes,
   * dtypes; RT_DATA_MISMATCH naming the first difference), its rows are never loaded.
   */
  static async fromFile(file: string, job: Job, seed: number): Promise<DataService> {
    const r = await PackReader.open(file);
    try {
      assertJobLayout(r.header, specOf(job).tensors, file);
      return new DataService({ file, rows: r.rows, fingerprint: r.fingerprint }, job, seed);
    } finally {
      await r.close();
    }
  }

  /**
   * The run's checkpoint fingerprint with this split folded in when it is a file: the job's seed
   * fixes an in-memory split, but a file is its own data, so resuming on another file is refused.
   */
  runFingerprint(config: string): string {
    return this.data === null ? createHash('sha256').update(`${config}\0${this.fingerprint}`).digest('hex').slice(0, 16) : config;
  }

  private orderFor(epoch: number): Uint32Array {
    if (this.order?.epoch !== epoch) this.order = { epoch, order: epochOrder(this.size, this.seed, epoch) };
    return this.order.order;
  }

  /** Positions in the training set of rank `rank`'s share of step `p` (a view; do not modify). */
  indices(p: PlannedStep, rank: number): Uint32Array {
    const share = rankShare(p, rank);
    return this.orderFor(p.epoch).subarray(share.start, share.start + share.length);
  }

  /** The rows at `indices` (every named tensor), for a rank that receives its batches streamed. */
  rows(indices: Uint32Array): { tensors: Rows } {
    if (this.data === null) throw new RingtrainError(ErrorCodes.DATA_MISMATCH, 'a rank asked for streamed rows, but the training split is a packed file the coordinator does not load; every worker needs --data-file');
    return { tensors: gatherRows(this.data, this.layout, indices) };
  }
}
