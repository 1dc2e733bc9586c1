/**
 * A worker's own copy of the training split (`--data auto`). When the job's data, loaded here from
 * the same seed, has the coordinator's dataset fingerprint, the coordinator sends this rank only
 * the indices of its share: a few hundred bytes instead of the rows, which fit ahead in the socket
 * buffers so the prefetched batches are really there when a step starts. Anything short of a
 * verified match (stream mode, a load failure, different data) means
 * streamed rows, which always work. A run whose training split is a packed file (`--data-file`)
 * has no streamed fallback: the coordinator holds no rows, so this worker must hold the same file
 * (file-data.ts) or fail with RT_DATA_MISMATCH before it reports ready.
 */
import type { Job, Rows, Split } from '../shared/job/job.js';
import { specOf } from '../shared/job/spec.js';
import type { DataMode } from '../shared/config/config.js';
import { checkRows, datasetFingerprint, gatherRows, hasShape, type RowLayout } from '../shared/data/dataset.js';
import { ErrorCodes, RingtrainError, toRingtrainError } from '../shared/base/errors.js';
import type { Logger } from '../shared/base/logger.js';
import type { BatchMsg, BatchRows, StartMsg } from '../shared/protocol/protocol.js';
import { isPackFingerprint } from '../shared/data/pack-format.js';
import { fileRows, openFileSplit, READ_AHEAD_BYTES, verifyFile, type FileSplit } from './file-data.js';
import type { PackReader } from '../shared/data/pack-reader.js';

/** The training split as this worker holds it, with what the gather needs. */
export interface LocalSplit {
  train: Split;
  layout: RowLayout;
  fingerprint: string;
}

export class LocalData {
  /** Loads by job name and seed: a later generation (or a reconnect) never loads again. */
  private readonly loads = new Map<string, Promise<LocalSplit | null>>();
  /** The packed file, opened and verified once per fingerprint (a later generation reuses it). */
  /** This worker's `--data-file`, opened and hashed once (started by warm(), or on first use). */
  private verified: Promise<PackReader> | null = null;

  /** `dataFile`: this worker's copy of the run's packed training file (`--data-file`), if any. */
  constructor(private readonly mode: DataMode, private readonly dataFile: string | null = null) {}

  /** Starts verifying the data file now (at worker start), so the hash pass overlaps rendezvous. */
  warm(log: Logger): void {
    if (this.dataFile === null || this.verified !== null || this.mode === 'stream') return;
    this.verified = verifyFile(this.dataFile, log);
    this.verified.catch(() => undefined); // reported when a generation needs the file
  }

  /** Closes the data file, if one was opened (the worker is done). */
  async close(): Promise<void> {
    const file = await this.verified?.catch(() => null);
    await file?.close();
  }

  /**
   * This worker's split when it matches the one `start` describes, else null (stream). For an
   * in-memory split it never throws: in auto mode a failing load is a warning and streamed
   * batches. For a file-backed run it throws (RT_DATA_MISMATCH, RT_BAD_DATA) unless this
   * worker holds the same file.
   */
  async forStart(start: StartMsg, job: () => Promise<Job>, log: Logger): Promise<LocalSplit | FileSplit | null> {
    const want = start.dataFingerprint;
    if (want !== null && isPackFingerprint(want)) {
      if (this.mode === 'stream') throw new RingtrainError(ErrorCodes.DATA_MISMATCH, 'the coordinator trains from a packed data file and streams no rows; start this worker with --data auto and --data-file');
      this.warm(log);
      return openFileSplit(this.verified, want, job, log);
    }
    if (this.mode === 'stream') return null;
    if (want === null) {
      log.info('the coordinator offers no dataset fingerprint; batches are streamed');
      return null;
    }
    const key = `${start.job}\0${start.params.seed}`;
    let load = this.loads.get(key);
    if (!load) {
      load = this.load(job, { seed: start.params.seed, rank: start.rank, worldSize: start.worldSize }, log);
      this.loads.set(key, load);
    }
    const split = await load;
    if (split === null) return null;
    if (split.fingerprint !== want) {
      log.warn({ ours: split.fingerprint, coordinator: want }, 'local training data differs from the coordinator\'s; batches are streamed');
      return null;
    }
    log.info({ samples: split.train.size }, 'using local data: batches arrive as indices');
    return split;
  }

  /**
   * Loads the job's data with this worker's rank and world size of the generation that first
   * needs it (a later generation reuses the load, whatever its membership).
   */
  private async load(job: () => Promise<Job>, ctx: { seed: number; rank: number; worldSize: number }, log: Logger): Promise<LocalSplit | null> {
    const t0 = performance.now();
    try {
      const spec = specOf(await job());
      const layout = spec.tensors;
      const train = (await spec.loadData(ctx)).train;
      if (!hasShape(train, layout)) throw new RingtrainError(ErrorCodes.JOB_LOAD, `job ${spec.name}'s training split does not hold size rows of ${layout.map((t) => `${t.name} (${t.dtype} × ${t.elements})`).join(', ')}`);
      const split = { train, layout, fingerprint: datasetFingerprint(train, layout) };
      log.debug({ ms: Math.round(performance.now() - t0), samples: train.size }, 'local training data loaded');
      return split;
    } catch (err) {
      const e = toRingtrainError(err, ErrorCodes.JOB_LOAD);
      log.warn({ code: e.code, err: e.message }, 'could not load the training data locally; batches are streamed');
      return null;
    }
  }
}

/**
 * The rows of a batch: as streamed, or gathered from `local` by index. A batch of indices this
 * worker cannot serve (it never said it holds the data, or an index is out of range) is
 * RT_BAD_MESSAGE, raised before the step touches any training state.
 */
export function batchRows(batch: BatchRows, local: LocalSplit | null): Rows {
  if (batch.indices === undefined) return batch.tensors;
  if (local === null) throw new RingtrainError(ErrorCodes.BAD_MESSAGE, 'the coordinator sent batch indices, but this worker holds no matching training data');
  return gatherRows(local.train, local.layout, batch.indices);
}

/**
 * Where one generation's batches get their rows: streamed rows as they came, in-memory data by
 * gathering, a packed file by positional reads started as soon as the batch arrives (the
 * coordinator sends batches several steps ahead, so the reads overlap the steps before). Rows
 * read ahead are bounded by READ_AHEAD_BYTES (at least one batch), so a worker's memory is a few
 * batches whatever the file's size; a read that failed reports its error only when its step
 * takes the rows, before that step changes any state.
 */
export class BatchFeed {
  private readonly ahead = new Map<number, { read: Promise<Rows>; bytes: number }>();
  /** Batches that arrived but whose reads wait for room under the bound, in step order. */
  private readonly queued: BatchMsg[] = [];
  private heldBytes = 0;

  /** `layout`: the job's tensors, which streamed rows are checked against before a step uses them. */
  constructor(private readonly split: LocalSplit | FileSplit | null, private readonly layout: RowLayout | null = null) {}

  /** A batch has arrived for a later step: a file-backed split reads its rows now, room permitting. */
  arrived(batch: BatchMsg): void {
    if (this.split === null || !('file' in this.split) || batch.indices === undefined) return;
    if (this.ahead.has(batch.step) || this.queued.some((b) => b.step === batch.step)) return;
    this.queued.push(batch);
    this.queued.sort((a, b) => a.step - b.step);
    this.pump(this.split);
  }

  private pump(split: FileSplit): void {
    for (let next = this.queued[0]; next?.indices !== undefined; next = this.queued[0]) {
      const bytes = next.indices.length * split.file.header.rowBytes;
      if (this.ahead.size > 0 && this.heldBytes + bytes > READ_AHEAD_BYTES) return;
      this.queued.shift();
      const read = fileRows(split, next.indices);
      read.catch(() => undefined); // observed when the step takes it
      this.ahead.set(next.step, { read, bytes });
      this.heldBytes += bytes;
    }
  }

  /** The rows of `batch`: read ahead, or read (or gathered) now. */
  rows(batch: BatchMsg): Promise<Rows> | Rows {
    const split = this.split;
    if (batch.indices === undefined) return this.layout === null ? batch.tensors : checkRows(batch.tensors, this.layout, batch.count);
    if (split === null || !('file' in split)) return batchRows(batch, split);
    const early = this.ahead.get(batch.step);
    const at = this.queued.indexOf(batch);
    if (at >= 0) this.queued.splice(at, 1);
    if (early) {
      this.ahead.delete(batch.step);
      this.heldBytes -= early.bytes;
    }
    this.pump(split);
    return early ? early.read : fileRows(split, batch.indices);
  }
}
