/**
 * Checkpoints: the training state plus what the coordinator needs to continue a run, written
 * atomically (temporary file, fsync, rename, fsync of the folder) so a crash at any instant leaves
 * either the previous checkpoint or the new one, never half of one. A fingerprint of the job and
 * hyper-parameters refuses a checkpoint from a different run configuration.
 *
 * On disk: a header (magic, framing version, SHA-256 of everything after the header), then the
 * body (msgpack of the fields below). The hash is framing only: a bit flipped anywhere in the
 * body, weights included, is refused with RT_BAD_CHECKPOINT whatever the body's layout.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';
import { parseTrainState, type TrainState } from '../shared/protocol/protocol.js';

export const CHECKPOINT_FILE = 'checkpoint.bin';
const FORMAT = 2;
/** 'RTCK', framing version 1, then the body's SHA-256. */
const MAGIC = Buffer.from('RTCK');
const FRAMING = 1;
const HEADER_BYTES = MAGIC.length + 4 + 32;
const TMP_INFIX = '.tmp-';

/** Header + body: the hash covers every byte after the header. */
export function frameCheckpoint(body: Uint8Array): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(FRAMING, MAGIC.length);
  createHash('sha256').update(body).digest().copy(header, MAGIC.length + 4);
  return Buffer.concat([header, body]);
}

/** The body of a framed checkpoint; throws RT_BAD_CHECKPOINT when the frame or hash is wrong. */
export function unframeCheckpoint(bytes: Buffer, file: string): Buffer {
  if (bytes.length < HEADER_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new RingtrainError(ErrorCodes.BAD_CHECKPOINT, `checkpoint ${file} is damaged or was written by an older ringtrain (no checkpoint header)`);
  }
  const framing = bytes.readUInt32LE(MAGIC.length);
  if (framing !== FRAMING) throw new RingtrainError(ErrorCodes.BAD_CHECKPOINT, `checkpoint ${file} has framing ${framing}, this ringtrain reads ${FRAMING}`);
  const body = bytes.subarray(HEADER_BYTES);
  const want = bytes.subarray(MAGIC.length + 4, HEADER_BYTES);
  if (!createHash('sha256').update(body).digest().equals(want)) {
    throw new RingtrainError(ErrorCodes.BAD_CHECKPOINT, `checkpoint ${file} is damaged: its content hash does not match (${body.length} bytes after the header)`);
  }
  return body;
}
const packr = new Packr({ useRecords: false, moreTypes: true });

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  testLoss: number;
  testAccuracy: number | null;
}

export interface Checkpoint {
  fingerprint: string;
  generation: number;
  state: TrainState;
  epochs: EpochMetrics[];
  /** Loss sum and samples of the unfinished epoch, so its mean survives a restart. */
  epochLossSum: number;
  epochSamples: number;
  samplesPerEpoch: number[];
  /** Weight checksums every rank agreed on, as [steps applied, checksum] (state-check.ts). */
  checksums?: [number, string][];
}

/**
 * What must match for a checkpoint to be resumed: job, data seed, samples per step, the optimizer
 * with its whole configuration (schedule included) and clipping, model shapes.
 */
export function configFingerprint(parts: { job: string; seed: number; batchSize: number; optimizer: { name: string; config: Readonly<Record<string, unknown>> }; clipNorm: number; shapes: number[][] }): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

async function writeDurable(file: string, data: Uint8Array): Promise<void> {
  const tmp = `${file}${TMP_INFIX}${process.pid}`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    // A full disk fails cleanly and leaves nothing half-written behind.
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // The rename itself must reach the disk, or a power cut could bring back the old name.
  const dir = await open(join(file, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export async function saveCheckpoint(dir: string, ck: Checkpoint): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeDurable(join(dir, CHECKPOINT_FILE), frameCheckpoint(packr.pack({ format: FORMAT, ...ck })));
}

/**
 * Removes temporary checkpoint files left by writers that died mid-write (never the checkpoint
 * itself). Called when a coordinator starts on an output directory it now owns.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith(`${CHECKPOINT_FILE}${TMP_INFIX}`));
  await Promise.all(stale.map((n) => unlink(join(dir, n)).catch(() => undefined)));
  return stale;
}

function field<T>(o: Record<string, unknown>, k: string, ok: (v: unknown) => v is T, file: string): T {
  const v = o[k];
  if (!ok(v)) throw new RingtrainError(ErrorCodes.BAD_CHECKPOINT, `checkpoint ${file} is damaged: field ${k} is missing or invalid`);
  return v;
}
const isNum = (v: unknown): v is number => typeof v === 'number';
const isStr = (v: unknown): v is string => typeof v === 'string';
const isArr = (v: unknown): v is unknown[] => Array.isArray(v);

/** Loads and validates `dir`'s checkpoint; refuses one written for another configuration. */
export async function loadCheckpoint(dir: string, fingerprint: string): Promise<Checkpoint> {
  const file = join(dir, CHECKPOINT_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new RingtrainError(ErrorCodes.BAD_CHECKPOINT, `cannot resume: no checkpoint at ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const body = unframeCheckpoint(bytes, file);
  let raw: unknown;
  try {
    raw = packr.unpack(body);
  } catch {
    throw new RingtrainError(ErrorCodes.BAD_CHECKPOINT, `checkpoint ${file} is damaged (not decodable)`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RingtrainError(ErrorCodes.BAD_CHECKPOINT, `checkpoint ${file} is damaged`);
  const o = raw as Record<string, unknown>;
  if (o['format'] !== FORMAT) throw new RingtrainError(ErrorCodes.BAD_CHECKPOINT, `checkpoint ${file} has format ${String(o['format'])}, this ringtrain reads ${FORMAT}`);
  const fp = field(o, 'fingerprint', isStr, file);
  if (fp !== fingerprint) {
    throw new RingtrainError(ErrorCodes.CHECKPOINT_MISMATCH, `checkpoint ${file} was written for a different job configuration (fingerprint ${fp}, this run ${fingerprint}); resume with the same --job, --seed, --batch-size, --lr, --optimizer and its flags (--weight-decay, --momentum, --lr-schedule, --clip-norm, ...)`);
  }
  let state: TrainState;
  try {
    state = parseTrainState(o['state']);
  } catch (err) {
    throw new RingtrainError(ErrorCodes.BAD_CHECKPOINT, `checkpoint ${file} is damaged: ${err instanceof Error ? err.message : String(err)}`);
  }
  const epochs = field(o, 'epochs', isArr, file).map((e) => {
    const m = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    return {
      epoch: field(m, 'epoch', isNum, file), trainLoss: field(m, 'trainLoss', isNum, file), testLoss: field(m, 'testLoss', isNum, file),
      testAccuracy: m['testAccuracy'] === null ? null : field(m, 'testAccuracy', isNum, file),
    };
  });
  return {
    fingerprint: fp, generation: field(o, 'generation', isNum, file), state, epochs,
    epochLossSum: field(o, 'epochLossSum', isNum, file), epochSamples: field(o, 'epochSamples', isNum, file),
    samplesPerEpoch: field(o, 'samplesPerEpoch', isArr, file).filter(isNum),
    checksums: (isArr(o['checksums']) ? o['checksums'] : []).filter((e): e is [number, string] => isArr(e) && isNum(e[0]) && isStr(e[1])),
  };
}
