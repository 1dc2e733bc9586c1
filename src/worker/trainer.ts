/**
 * The tfjs side of a replica: builds the job's model, loads flat weights into it, and computes the
 * summed gradient of a batch into a flat fusion buffer. Optimisation happens outside tfjs (adam.ts)
 * so that the engine only ever computes gradients.
 */
import type * as TF from '@tensorflow/tfjs';
import type { Job, Tfjs } from '../jobs/job.js';
import { inputSize } from '../jobs/job.js';
import { ErrorCodes, RingtrainError } from '../shared/errors.js';
import { withSeededMathRandom } from '../shared/rng.js';

export interface ParamInfo {
  name: string;
  shape: number[];
  dtype: string;
  size: number;
  offset: number;
}

export class Trainer {
  readonly paramCount: number;
  readonly params: readonly ParamInfo[];
  private readonly vars: TF.Variable[];

  constructor(readonly tf: Tfjs, readonly job: Job, readonly model: TF.LayersModel) {
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
  static create(tf: Tfjs, job: Job, seed: number): Trainer {
    return new Trainer(tf, job, withSeededMathRandom(seed, () => job.createModel(tf)));
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
    tf.tidy(() => {
      this.vars.forEach((v, i) => {
        const p = this.params[i]!;
        // slice(): the engine may keep the array it is given; later in-place updates must not alias it.
        v.assign(tf.tensor(flat.slice(p.offset, p.offset + p.size), p.shape, 'float32'));
      });
    });
  }

  /**
   * Forward and backward pass over `count` samples. Writes the gradient of the *summed* loss into
   * `out[0..paramCount)` and returns the summed loss; the all-reduce later divides by the global
   * sample count, which makes uneven batches exact.
   */
  async computeGradients(x: Float32Array, y: Float32Array, count: number, out: Float32Array): Promise<number> {
    const tf = this.tf;
    if (count === 0) {
      out.fill(0, 0, this.paramCount);
      return 0;
    }
    const xs = tf.tensor(x, [count, ...this.job.inputShape], 'float32');
    const ys = tf.tensor(y, [count, this.job.outputSize], 'float32');
    const { value, grads } = tf.variableGrads(() => tf.sum(this.job.loss(tf, ys, this.model.apply(xs, { training: true }) as TF.Tensor)) as TF.Scalar, this.vars);
    try {
      // Read every gradient back concurrently: on asynchronous engines the downloads overlap.
      const datas = await Promise.all(this.vars.map((v) => grads[v.name]!.data()));
      datas.forEach((d, i) => out.set(d as Float32Array, this.params[i]!.offset));
      return (await value.data())[0]!;
    } finally {
      tf.dispose([xs, ys, value, ...Object.values(grads)]);
    }
  }

  /** Runs one tiny forward and backward pass, so a kernel missing from the engine fails at start. */
  async probe(): Promise<void> {
    const n = inputSize(this.job);
    await this.computeGradients(new Float32Array(n), new Float32Array(this.job.outputSize), 1, new Float32Array(this.paramCount));
  }

  dispose(): void {
    this.model.dispose();
  }
}
