/**
 * The tfjs side of a replica: builds the job's model, loads flat weights into it, and computes the
 * summed gradient of a batch into a flat fusion buffer. Optimisation happens outside tfjs (adam.ts)
 * so that the engine only ever computes gradients. How a step talks to the engine (reads, fixed
 * shapes) follows the engine's StepPlan (step-plan.ts).
 */
import type * as TF from '@tensorflow/tfjs';
import type { Job, Rows, TensorArray, Tfjs } from '../job/job.js';
import { specOf, outputsOf, perSampleLoss, type JobSpec } from '../job/spec.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import { withSeededMathRandom } from '../base/rng.js';
import { addInto } from '../kernels/flat.js';
import { stepPlan, type ReadBack, type StepPlan } from './step-plan.js';

export interface ParamInfo {
  name: string;
  shape: number[];
  dtype: string;
  size: number;
  offset: number;
}

/** Choices of the engine's StepPlan to override. */
export interface PlanOverride {
  readBack?: ReadBack;
  fixedShapes?: boolean;
}

export class Trainer {
  readonly paramCount: number;
  readonly params: readonly ParamInfo[];
  readonly plan: StepPlan;
  /** The job's named inputs and outputs (a v1 job's are x and y). */
  readonly spec: JobSpec;
  private readonly vars: TF.Variable[];
  /** Scratch rows per tensor for padded passes and the loss weights of each padded shape (fixedShapes). */
  private readonly padRows = new Map<string, TensorArray>();
  private readonly weights = new Map<string, TF.Tensor>();

  /** `opts` overrides the engine's plan (benchmarks and tests compare the choices). */
  constructor(readonly tf: Tfjs, readonly job: Job, readonly model: TF.LayersModel, opts: PlanOverride = {}) {
    const plan = stepPlan(tf.getBackend());
    this.plan = { ...plan, readBack: opts.readBack ?? plan.readBack, fixedShapes: opts.fixedShapes ?? plan.fixedShapes };
    this.spec = specOf(job);
    this.vars = model.trainableWeights.map((w) => w.read() as TF.Variable);
    if (this.vars.length === 0) {
      throw new RingtrainError(ErrorCodes.JOB_LOAD, `job ${job.name}: the model has no trainable weights (give its first layer an inputShape so it is built at creation)`);
    }
    let offset = 0;
    this.params = this.vars.map((v) => {
      const info = { name: v.name, shape: v.shape.slice(), dtype: v.dtype, size: v.size, offset };
      offset += v.size;
      return info;
    });
    this.paramCount = offset;
  }

  /** Builds the job's model with initialisers drawn from `seed`, so every run starts alike. */
  static create(tf: Tfjs, job: Job, seed: number, opts: PlanOverride = {}): Trainer {
    return new Trainer(tf, job, withSeededMathRandom(seed, () => specOf(job).createModel(tf)), opts);
  }

  /** Copies the model's current weights into one flat buffer (rank order of trainableWeights). */
  getWeights(): Float32Array {
    const out = new Float32Array(this.paramCount);
    this.vars.forEach((v, i) => out.set(v.dataSync() as Float32Array, this.params[i]!.offset));
    return out;
  }

  /** Loads flat weights into the model's variables. */
  setWeights(flat: Float32Array): void {
    if (flat.length !== this.paramCount) {
      throw new RingtrainError(ErrorCodes.MODEL_MISMATCH, `weights have ${flat.length} values but model ${this.job.name} has ${this.paramCount} parameters`);
    }
    const tf = this.tf;
    // Every engine gets a copy: an engine may keep the array a tensor is made from (cpu does), and
    // the next optimizer step writes `flat` in place, which must not change the model behind its
    // back (tests/unit/set-weights.test.ts). Views would save under 1% of a step even on wasm,
    // whose undocumented copy on creation would make them safe (`npm run bench:internals`).
    tf.tidy(() => {
      this.vars.forEach((v, i) => {
        const p = this.params[i]!;
        v.assign(tf.tensor(flat.slice(p.offset, p.offset + p.size), p.shape, 'float32'));
      });
    });
  }

  /**
   * Forward and backward pass over `count` samples. Writes the gradient of the *summed* loss into
   * `out[0..paramCount)` and returns the summed loss; the all-reduce later divides by the global
   * sample count, which makes uneven batches exact.
   *
   * `microBatch` splits the samples into passes of at most that many, whose gradients are summed
   * here (gradient accumulation: the sum of per-part summed-loss gradients is the big batch's,
   * up to float rounding). `onVar(i)` fires as soon as variable i's final gradient is in `out`, so
   * the caller can start reducing buckets while later variables are still being read back (with
   * a single read-back they all fire together once it is in).
   */
  async computeGradientsOf(rows: Rows, count: number, out: Float32Array, opts: { microBatch?: number; onVar?: (i: number) => void } = {}): Promise<number> {
    const onVar = opts.onVar ?? ((): void => undefined);
    if (count === 0) {
      out.fill(0, 0, this.paramCount);
      this.vars.forEach((_, i) => onVar(i));
      return 0;
    }
    const micro = Math.max(1, Math.min(count, opts.microBatch ?? count));
    // Under fixedShapes a short pass is padded to the full micro-batch.
    const padTo = Math.max(micro, Math.floor(opts.microBatch ?? 0));
    const tensors = this.spec.tensors;
    let loss = 0;
    for (let first = 0; first < count; first += micro) {
      const n = Math.min(micro, count - first);
      const last = first + n >= count;
      const part: Rows = {};
      for (const t of tensors) part[t.name] = rows[t.name]!.subarray(first * t.elements, (first + n) * t.elements);
      loss += await this.pass(part, n, padTo, out, first > 0, last ? onVar : null);
    }
    return loss;
  }

  /** `computeGradientsOf` for a job with one input `x` and one target `y` (every v1 job). */
  computeGradients(x: Float32Array, y: Float32Array, count: number, out: Float32Array, opts: { microBatch?: number; onVar?: (i: number) => void } = {}): Promise<number> {
    return this.computeGradientsOf({ x, y }, count, out, opts);
  }

  /** One forward/backward pass; writes (or adds) its gradients into `out`, returns its loss sum. */
  private async pass(rows: Rows, count: number, padTo: number, out: Float32Array, accumulate: boolean, onVar: ((i: number) => void) | null): Promise<number> {
    const tf = this.tf;
    const spec = this.spec;
    const padded = this.plan.fixedShapes ? this.pad(rows, count, padTo) : { rows, n: count, weight: null };
    const tensorOf = (t: JobSpec['tensors'][number]): TF.Tensor => tf.tensor(padded.rows[t.name]!, [padded.n, ...t.shape], t.dtype);
    const xs = spec.inputs.map(tensorOf);
    const ys = spec.outputs.map(tensorOf);
    const { value, grads } = tf.variableGrads(() => {
      const preds = outputsOf(this.model.apply(xs.length === 1 ? xs[0]! : xs, { training: true }) as TF.Tensor | TF.Tensor[]);
      const perSample = perSampleLoss(tf, spec, ys, preds, padded.n).total;
      return tf.sum(padded.weight ? tf.mul(perSample, padded.weight) : perSample) as TF.Scalar;
    }, this.vars);
    try {
      const place = (i: number, d: Float32Array): void => {
        const p = this.params[i]!;
        if (accumulate) addInto(out, p.offset, d);
        else out.set(d, p.offset);
        onVar?.(i);
      };
      const list = this.vars.map((v) => grads[v.name]!);
      if (this.plan.readBack === 'one') {
        // Every gradient and the loss in one engine buffer, read back once.
        const all = tf.tidy(() => tf.concat([...list.map((g) => tf.reshape(g, [-1])), tf.reshape(value, [1])]));
        try {
          const d = (await all.data()) as Float32Array;
          if (accumulate) addInto(out, 0, d.subarray(0, this.paramCount));
          else out.set(d.subarray(0, this.paramCount));
          this.vars.forEach((_, i) => onVar?.(i));
          return d[this.paramCount]!;
        } finally {
          all.dispose();
        }
      }
      // One read per variable, concurrently: on asynchronous engines the downloads overlap, and
      // each variable is handed on (onVar) the moment its values are in place.
      await Promise.all(list.map(async (g, i) => place(i, (await g.data()) as Float32Array)));
      return (await value.data())[0]!;
    } finally {
      tf.dispose([...xs, ...ys, value, ...Object.values(grads)]);
    }
  }

  /**
   * A pass of `count` samples as `padTo` rows: the samples, then copies of them weighted 0 in the
   * loss, so their gradient contribution is exactly 0 (copies rather than zeros keep every row's
   * loss finite whatever the job's loss does with an all-zero row). Full passes get the same
   * all-ones weight so that every pass runs the same ops on the same shapes.
   */
  private pad(rows: Rows, count: number, padTo: number): { rows: Rows; n: number; weight: TF.Tensor } {
    const weightKey = `${count}/${padTo}`;
    let weight = this.weights.get(weightKey);
    if (!weight) {
      const w = new Float32Array(padTo);
      w.fill(1, 0, count);
      weight = this.tf.keep(this.tf.tensor1d(w, 'float32'));
      // The full pass's weight is kept for the run; a short pass's is kept until the next one.
      for (const [k, t] of this.weights) if (k !== `${padTo}/${padTo}`) (t.dispose(), this.weights.delete(k));
      this.weights.set(weightKey, weight);
    }
    if (count === padTo) return { rows, n: padTo, weight };
    const out: Rows = {};
    for (const t of this.spec.tensors) {
      const src = rows[t.name]!;
      let buf = this.padRows.get(t.name);
      if (buf?.length !== padTo * t.elements || !(buf instanceof src.constructor)) {
        buf = src instanceof Int32Array ? new Int32Array(padTo * t.elements) : new Float32Array(padTo * t.elements);
        this.padRows.set(t.name, buf);
      }
      for (let r = 0; r < padTo; r += count) {
        const n = Math.min(count, padTo - r);
        buf.set(src.subarray(0, n * t.elements), r * t.elements);
      }
      out[t.name] = buf;
    }
    return { rows: out, n: padTo, weight };
  }

  /** Runs one tiny forward and backward pass, so a kernel missing from the engine fails at start. */
  async probe(): Promise<void> {
    const rows: Rows = {};
    for (const t of this.spec.tensors) rows[t.name] = t.dtype === 'int32' ? new Int32Array(t.elements) : new Float32Array(t.elements);
    await this.computeGradientsOf(rows, 1, new Float32Array(this.paramCount));
  }

  dispose(): void {
    for (const t of this.weights.values()) t.dispose();
    this.weights.clear();
    this.model.dispose();
  }
}
