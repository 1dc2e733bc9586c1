/**
 * A worker's own copy of the training split (`--data auto`). When the job's data, loaded here from
 * the same seed, has the coordinator's dataset fingerprint, the coordinator sends this rank only
 * the indices of its share: a few hundred bytes instead of the rows, which fit ahead in the socket
 * buffers so the prefetched batches are really there when a step starts. Anything short of a
 * verified match (stream mode, a load failure, different data, an older coordinator) means
 * streamed rows, which always work.
 */
import type { Dataset, Job } from '../jobs/job.js';
import { inputSize } from '../jobs/job.js';
import type { DataMode } from '../shared/config.js';
import { datasetFingerprint, gatherRows, hasShape, type RowWidths } from '../shared/dataset.js';
import { ErrorCodes, RingtrainError, toRingtrainError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { BatchRows, StartMsg } from '../shared/protocol.js';

/** The training split as this worker holds it, with what the gather needs. */
export interface LocalSplit {
  train: Dataset;
  widths: RowWidths;
  fingerprint: string;
}

export class LocalData {
  /** Loads by job name and seed: a later generation (or a reconnect) never loads again. */
  private readonly loads = new Map<string, Promise<LocalSplit | null>>();

  constructor(private readonly mode: DataMode) {}

  /**
   * This worker's split when it matches the one `start` describes, else null (stream). Never
   * throws: in auto mode a failing load is a warning and streamed batches.
   */
  async forStart(start: StartMsg, job: () => Promise<Job>, log: Logger): Promise<LocalSplit | null> {
    if (this.mode === 'stream') return null;
    const want = start.dataFingerprint ?? null;
    if (want === null) {
      log.info('the coordinator offers no dataset fingerprint; batches are streamed');
      return null;
    }
    const key = `${start.job}\0${start.params.seed}`;
    let load = this.loads.get(key);
    if (!load) {
      load = this.load(job, start.params.seed, log);
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

  private async load(job: () => Promise<Job>, seed: number, log: Logger): Promise<LocalSplit | null> {
    const t0 = performance.now();
    try {
      const j = await job();
      const widths = { input: inputSize(j), output: j.outputSize };
      const train = (await j.loadData(seed)).train;
      if (!hasShape(train, widths)) throw new RingtrainError(ErrorCodes.JOB_LOAD, `job ${j.name}'s training split does not hold size × (${widths.input} + ${widths.output}) float32 values`);
      const split = { train, widths, fingerprint: datasetFingerprint(train, widths) };
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
export function batchRows(batch: BatchRows, local: LocalSplit | null): { x: Float32Array; y: Float32Array } {
  if (batch.indices === undefined) return { x: batch.x, y: batch.y };
  if (local === null) throw new RingtrainError(ErrorCodes.BAD_MESSAGE, 'the coordinator sent batch indices, but this worker holds no matching training data');
  return gatherRows(local.train, local.widths, batch.indices);
}
