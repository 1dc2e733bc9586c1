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
import { addInto } from '../shared/flat.js';

/** The parts of the wasm engine's internals that reading a tensor in place needs. */
interface WasmInternals {
  dataIdMap?: { get(id: object): { memoryOffset?: number | null; dtype?: string } | undefined };
  wasm?: { HEAPF32?: Float32Array };
}

/**
 * On the wasm engine a float32 tensor's values sit in the engine's heap: returns a view of them,
 * to be copied out at once (before any other engine call, which could grow and so detach the heap).
 * This saves the per-variable allocation and copy that data() makes every step. Null on any other
 * engine, or when the internals are not as expected: the caller then reads through data().
 * Only ever read: weights still go in through tensors (writing new weights into a variable's heap
 * memory was tried and gave stale evaluations, commit 18127f3).
 */
function wasmHeapView(tf: Tfjs, t: TF.Tensor): Float32Array | null {
  if (t.dtype !== 'float32' || tf.getBackend() !== 'wasm') return null;
  const b = tf.backend() as unknown as WasmInternals;
  const e = b.dataIdMap?.get(t.dataId);
  const heap = b.wasm?.HEAPF32;
  if (!e || !heap || e.dtype !== 'float32' || typeof e.memoryOffset !== 'number' || e.memoryOffset % 4 !== 0) return null;
  const start = e.memoryOffset / 4;
  if (start + t.size > heap.length) return null;
  return heap.subarray(start, start + t.size);
}

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
    // The wasm engine copies a typed array into its own heap the moment a tensor is made from it
    // (BackendWasm.write), so a view is safe there and saves a copy and a 4-byte-per-parameter
    // allocation every step. Other engines may keep the array they are given (cpu does), so they
    // get a copy: the next Adam step writes `flat` in place and must not change the model behind
    // its back (tests/unit/set-weights.test.ts).
    const copy = tf.getBackend() !== 'wasm';
    tf.tidy(() => {
      this.vars.forEach((v, i) => {
        const p = this.params[i]!;
        const view = flat.subarray(p.offset, p.offset + p.size);
        v.assign(tf.tensor(copy ? view.slice() : view, p.shape, 'float32'));
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
   * the caller can start reducing buckets while later variables are still being read back.
   */
  async computeGradients(x: Float32Array, y: Float32Array, count: number, out: Float32Array, opts: { microBatch?: number; onVar?: (i: number) => void } = {}): Promise<number> {
    const onVar = opts.onVar ?? ((): void => undefined);
    if (count === 0) {
      out.fill(0, 0, this.paramCount);
      this.vars.forEach((_, i) => onVar(i));
      return 0;
    }
    const micro = Math.max(1, Math.min(count, opts.microBatch ?? count));
    const xw = x.length / count;
    const yw = y.length / count;
    let loss = 0;
    for (let first = 0; first < count; first += micro) {
      const n = Math.min(micro, count - first);
      const last = first + n >= count;
      loss += await this.pass(x.subarray(first * xw, (first + n) * xw), y.subarray(first * yw, (first + n) * yw), n, out, first > 0, last ? onVar : null);
    }
    return loss;
  }

  /** One forward/backward pass; writes (or adds) its gradients into `out`, returns its loss sum. */
  private async pass(x: Float32Array, y: Float32Array, count: number, out: Float32Array, accumulate: boolean, onVar: ((i: number) => void) | null): Promise<number> {
    const tf = this.tf;
    const xs = tf.tensor(x, [count, ...this.job.inputShape], 'float32');
    const ys = tf.tensor(y, [count, this.job.outputSize], 'float32');
    const { value, grads } = tf.variableGrads(() => tf.sum(this.job.loss(tf, ys, this.model.apply(xs, { training: true }) as TF.Tensor)) as TF.Scalar, this.vars);
    try {
      const place = (i: number, d: Float32Array): void => {
        const p = this.params[i]!;
        if (accumulate) addInto(out, p.offset, d);
        else out.set(d, p.offset);
        onVar?.(i);
      };
      // wasm computes synchronously and keeps values in its heap: copy them straight from there,
      // each view used the moment it is taken.
      let first = 0;
      for (; first < this.vars.length; first++) {
        const d = wasmHeapView(tf, grads[this.vars[first]!.name]!);
        if (!d) break;
        place(first, d);
      }
      if (first === this.vars.length) return value.dataSync()[0]!;
      // Read the rest back concurrently: on asynchronous engines the downloads overlap, and each
      // variable is handed on (onVar) the moment its values are in place.
      await Promise.all(this.vars.slice(first).map(async (v, k) => place(first + k, (await grads[v.name]!.data()) as Float32Array)));
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
