/**
 * `--init-from DIR`: the run starts from the weights of a saved model (model.json + weights, as
 * every run writes under --output) instead of the seeded initialisation, for fine-tuning. The
 * saved model's trainable weights must match the job's model one for one in order and shape;
 * the first difference is RT_MODEL_MISMATCH, found before the coordinator opens a socket.
 * Only the weights are taken: the optimizer starts fresh (initialState), at step 0.
 */
import type { Tfjs } from '../shared/job/job.js';
import { loadSavedModel } from '../jobs/saved-model.js';
import type { Trainer } from '../shared/engine/trainer.js';
import { ErrorCodes, RingtrainError } from '../shared/base/errors.js';

const shape = (s: readonly (number | null)[]): string => `[${s.join(',')}]`;

/** The saved model's trainable weights, flat in the layout of `trainer`'s model. */
export async function weightsFrom(tf: Tfjs, dir: string, trainer: Trainer): Promise<Float32Array> {
  let model;
  try {
    model = await loadSavedModel(tf, dir);
  } catch (err) {
    if (err instanceof RingtrainError) throw err;
    throw new RingtrainError(ErrorCodes.MODEL_MISMATCH, `--init-from ${dir}: cannot build its model (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    const saved = model.trainableWeights;
    const want = trainer.params;
    const job = trainer.job.name;
    const fail: (why: string) => never = (why) => {
      throw new RingtrainError(ErrorCodes.MODEL_MISMATCH, `--init-from ${dir} does not fit job ${job}'s model: ${why}`);
    };
    for (let i = 0; i < Math.max(saved.length, want.length); i++) {
      const s = saved[i];
      const w = want[i];
      if (!s) fail(`it has ${saved.length} trainable weights, the job's model ${want.length} (the first it lacks: ${w!.name} ${shape(w!.shape)})`);
      if (!w) fail(`it has ${saved.length} trainable weights, the job's model ${want.length} (the first extra: ${s.originalName} ${shape(s.shape)})`);
      if (s.dtype !== 'float32') fail(`weight ${i} (${s.originalName}) is ${s.dtype}, not float32`);
      if (shape(s.shape) !== shape(w.shape)) fail(`weight ${i} is ${s.originalName} ${shape(s.shape)} there, ${w.name} ${shape(w.shape)} in the job's model`);
    }
    const flat = new Float32Array(trainer.paramCount);
    saved.forEach((s, i) => flat.set(s.read().dataSync() as Float32Array, want[i]!.offset));
    return flat;
  } finally {
    model.dispose();
  }
}
