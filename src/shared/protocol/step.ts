/**
 * The step hot path: the coordinator streams each rank its share of a step (`batch`) and says
 * `go` once every rank is ready; ranks answer with step reports, several to a `reports` message
 * (see ControlClient.report). These are the messages validated most often: the schemas are
 * compiled (schema.ts), and bench/schemas.ts measures them.
 */
import { AnyNumber, Closed, F32, Finite, I32, Int, Msg, OrNull, Str, Type, U32, parser, type Static } from './schema.js';

export const GoSchema = Msg('go', { generation: Int() });
export type GoMsg = Static<typeof GoSchema>;

/** Where a rank's share of a step stands in the run; the same for every form of batch. */
const batchHead = {
  type: Type.Literal('batch'),
  generation: Int(),
  step: Int(),
  epoch: Int(),
  /** Samples in this worker's share (may be 0 for a short last batch). */
  count: Int(),
  /** Sampler position after this step: epoch and samples consumed in it. */
  nextEpoch: Int(),
  nextCursor: Int(),
  /** Report a weight checksum after this step. */
  checksum: Type.Boolean(),
  /** Send the full state after this step (epoch end, checkpoint; rank 0 only). */
  sendState: Type.Boolean(),
};
export type BatchHead = Static<ReturnType<typeof Closed<typeof batchHead>>>;

/** Most named tensors one batch carries (a job's inputs and targets together). */
export const MAX_BATCH_TENSORS = 64;
/**
 * Named rows of a batch, every input and target of the job (a v1 job's are x and y); their widths
 * and dtypes are the worker's to check against its job.
 */
const BatchTensorsSchema = Type.Record(Type.String(), Type.Union([F32(), I32()]), {
  minProperties: 1,
  maxProperties: MAX_BATCH_TENSORS,
  propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_.-]{0,63}$' },
});
export type BatchTensors = Record<string, Float32Array | Int32Array>;

/**
 * The forms of a batch, each a closed object of required fields only (which the compiled check
 * tells apart by counting fields, the fast path): the rows themselves, or, for a rank that
 * reported `localData`, only their indices into the training split, from which it gathers the
 * same rows (their range is the worker's to check). A new form is one more entry here and one
 * more branch in `parseBatch`.
 */
export const BatchFormSchemas = {
  rows: Closed({ ...batchHead, tensors: BatchTensorsSchema }),
  indices: Type.Refine(
    Closed({ ...batchHead, indices: U32() }),
    (b) => b.indices.length === b.count,
    () => 'must have as many indices as its count',
  ),
};
/** Absent fields of the other forms, so that `batch.indices === undefined` tells the forms apart. */
type Without<K extends string> = { [F in K]?: undefined };
/** A batch's payload, one form or the other. */
export type BatchRows =
  | ({ tensors: BatchTensors } & Without<'indices'>)
  | ({ indices: Uint32Array } & Without<'tensors'>);
/** A rank's share of one step: its head and exactly one form. */
export type BatchMsg = BatchHead & BatchRows;

const parseRows = parser(BatchFormSchemas.rows);
const parseIndices = parser(BatchFormSchemas.indices);
/** The form is chosen by its own field, so each form's check runs alone (no union to try in turn). */
export function parseBatch(raw: unknown): BatchMsg {
  return typeof raw === 'object' && raw !== null && 'indices' in raw ? parseIndices(raw) : parseRows(raw);
}

/**
 * How one step's time was spent on a rank, in milliseconds. `commMs` is the wall time an
 * all-reduce of the step was in flight, the part overlapped with compute included (allreduceMs
 * is only what the step waited for after compute).
 */
export const StepTimingsSchema = Closed({ waitMs: Finite(), computeMs: Finite(), allreduceMs: Finite(), updateMs: Finite(), commMs: Finite() });
/** Step timings; sums and means over ranks, which use this type too, keep commMs apart. */
export type StepTimings = Omit<Static<typeof StepTimingsSchema>, 'commMs'> & { commMs?: number };

/** One rank's report of one step; every field is required, the compiled check's fast path. */
export const StepDoneSchema = Closed({
  type: Type.Literal('step-done'),
  generation: Int(),
  step: Int(),
  /** Global mean loss of the step (identical on every rank: it came through the all-reduce). */
  loss: AnyNumber(),
  /** Global sample count of the step. */
  samples: Int(),
  checksum: OrNull(Str()),
  timings: StepTimingsSchema,
  /** The reduced loss or gradient was not finite, so no rank applied this step's update. */
  skipped: Type.Boolean(),
});
export type StepDoneMsg = Static<typeof StepDoneSchema>;

/** Most step reports one `reports` message carries (far above what a client holds back). */
export const MAX_REPORTS = 1024;

/**
 * Step reports a worker held back and sends together, in step order (ControlClient.report): one
 * message and one write for several steps. The coordinator's server hands them to the run loop
 * one by one, as StepDoneMsg.
 */
export const ReportsSchema = Msg('reports', { reports: Type.Array(StepDoneSchema, { minItems: 1, maxItems: MAX_REPORTS }) });
export type ReportsMsg = Static<typeof ReportsSchema>;
