/**
 * A worker's training data as a packed file (`--data-file`): the coordinator holds only the
 * file's fingerprint and sends indices; this worker opens its own copy, proves it holds the same
 * bytes (header fingerprint, then a hash of the data), and reads only the rows of its batches
 * (BatchFeed in local-data.ts reads them ahead); memory stays a few batches.
 */
import type { Job, Rows } from '../shared/job/job.js';
import { specOf, type TensorSpec } from '../shared/job/spec.js';
import { PackReader } from '../shared/data/pack-reader.js';
import { assertJobLayout } from '../shared/data/pack-format.js';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import type { Logger } from '../shared/base/logger.js';

/**
 * Rows a worker reads ahead of its steps from a packed file, at most (at least one batch is
 * always read ahead): a few steps of a typical batch, so reads overlap compute while memory stays
 * bounded whatever the file's size.
 */
export const READ_AHEAD_BYTES = 16 << 20;

/** The training split as a packed file this worker has verified. */
export interface FileSplit {
  file: PackReader;
  fingerprint: string;
  /** The job's tensors, the ones a batch takes from each row. */
  tensors: readonly TensorSpec[];
}

/**
 * Opens this worker's `--data-file` and hashes its data once (RT_BAD_DATA when the bytes do not
 * match the header: a corrupt copy). A worker starts this when it starts, so the pass over the
 * file overlaps connecting and rendezvous instead of delaying its first generation.
 */
export async function verifyFile(path: string, log: Logger): Promise<PackReader> {
  const file = await PackReader.open(path);
  try {
    const t0 = performance.now();
    await file.verify();
    log.info({ file: path, rows: file.rows, bytes: file.dataBytes, verifyMs: Math.round(performance.now() - t0) }, 'data file verified');
    return file;
  } catch (err) {
    await file.close();
    throw err;
  }
}

/**
 * The verified file as the training split of a run whose coordinator announced `want`:
 * RT_DATA_MISMATCH when there is no file, it holds other data, or its tensors do not fit the job.
 * Everything is checked before the worker reports ready, so no step starts on wrong data.
 */
export async function openFileSplit(verified: Promise<PackReader> | null, want: string, job: () => Promise<Job>, log: Logger): Promise<FileSplit> {
  if (verified === null) {
    throw new RingtrainError(ErrorCodes.DATA_MISMATCH, `the coordinator trains from a packed data file (${want.slice(0, 40)}…); start this worker with --data-file <path to its copy of that file>`);
  }
  const file = await verified;
  if (file.fingerprint !== want) {
    throw new RingtrainError(ErrorCodes.DATA_MISMATCH, `${file.path} holds other data than the coordinator's file (ours ${file.fingerprint.slice(0, 40)}…, coordinator's ${want.slice(0, 40)}…); give every worker a copy of the same pack`);
  }
  const { tensors } = specOf(await job());
  assertJobLayout(file.header, tensors, file.path);
  log.info({ file: file.path, rows: file.rows }, 'using a packed data file: batches arrive as indices');
  return { file, fingerprint: file.fingerprint, tensors };
}

/** The job's tensors' rows at `indices` of a verified file split (assertJobLayout checked their dtypes and widths). */
export async function fileRows(split: FileSplit, indices: Uint32Array): Promise<Rows> {
  const rows = await split.file.readRows(indices);
  const out: Rows = {};
  for (const t of split.tensors) out[t.name] = rows[t.name]!;
  return out;
}
