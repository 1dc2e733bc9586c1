/**
 * How a training step talks to each engine: how gradients are read back and whether batch shapes
 * are held fixed. Pure decisions, kept apart from the trainer that carries them out; the figures
 * behind them come from `npm run bench:engines`, which runs the read-back choices side by side
 * (its `engines-overhead` lines).
 */

/**
 * How a step's gradients leave the engine.
 * - `each`: one read per variable, each handed on as soon as it is in place (bucket overlap).
 * - `one`: every gradient and the loss flattened and concatenated in the engine, read once.
 */
export type ReadBack = 'each' | 'one';

export interface StepPlan {
  readBack: ReadBack;
  /**
   * Pad every pass to the micro-batch size (rows copied from the batch, weighted 0 in the loss),
   * so the engine sees one input shape for the whole run: a short last batch would otherwise make
   * a shader engine compile new pipelines for its new shapes.
   */
  fixedShapes: boolean;
}

/**
 * The plan for an engine, by its tfjs backend name.
 * - tensorflow, wasm and cpu: a read is a plain copy of memory the engine already holds, and a
 *   concatenation adds an op and one more copy of every gradient: measured slower on tensorflow
 *   (mnist-mlp at batch 32: 3.4–4.6 against 3.8–5.3 CPU ms per step; the wide MLP 54 against 68)
 *   and no faster on wasm. Copying wasm gradients straight out of the engine's heap, through its
 *   private tables, would save well under 1% of a step (`npm run bench:internals`), so wasm reads
 *   through data() like the others and depends on no internals.
 * - webgpu: a read is a GPU→host round trip (a mapAsync each) on a real GPU, so one concatenated
 *   read; on the software adapter both choices measure alike. Shapes fixed (a new shape costs
 *   pipeline compilation: about 100 ms per short batch on lavapipe). tfjs-webgpu's submit batch
 *   (WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE) stays at its default of 15: 1, 15, 64 and 1000 measured
 *   alike on lavapipe (`bench:engines -- --flag NAME=VALUE` reruns that comparison).
 * - any other engine: treated like webgpu (reads assumed to be round trips).
 */
export function stepPlan(engine: string): StepPlan {
  switch (engine) {
    case 'tensorflow':
    case 'wasm':
    case 'cpu':
      return { readBack: 'each', fixedShapes: false };
    case 'webgpu':
      return { readBack: 'one', fixedShapes: true };
    default:
      return { readBack: 'one', fixedShapes: false };
  }
}
