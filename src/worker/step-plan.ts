/**
 * How a training step talks to each engine: how gradients are read back, whether batch shapes are
 * held fixed, and the engine flags the trainer sets. Pure decisions, kept apart from the trainer
 * that carries them out; the figures behind them come from `npm run bench:engines`, which runs
 * every choice side by side (its `readback` lines).
 */

/**
 * How a step's gradients leave the engine.
 * - `each`: one read per variable, each handed on as soon as it is in place (bucket overlap).
 * - `one`: every gradient and the loss flattened and concatenated in the engine, read once.
 * - `heap`: wasm only: each variable copied straight out of the engine's heap (no data() copy).
 */
export type ReadBack = 'each' | 'one' | 'heap';

export interface StepPlan {
  readBack: ReadBack;
  /**
   * Pad every pass to the micro-batch size (rows copied from the batch, weighted 0 in the loss),
   * so the engine sees one input shape for the whole run: a short last batch would otherwise make
   * a shader engine compile new pipelines for its new shapes.
   */
  fixedShapes: boolean;
  /** tfjs flags to set on this engine (global to the process, so set once per engine). */
  flags: Record<string, number | boolean>;
}

/**
 * The plan for an engine, by its tfjs backend name.
 * - webgpu: a read is a GPU→CPU round trip (a mapAsync each), so one concatenated read; shapes
 *   fixed; commands submitted in batches of WEBGPU_SUBMIT_BATCH (tuned with bench:engines on the
 *   software adapter).
 * - tensorflow and cpu: a read is a plain copy of memory the engine already holds, and a concat
 *   adds an op and one more copy of every gradient; measured slower (bench:engines `readback`).
 * - wasm: the heap copy saves data()'s allocation and copy (bench:engines `readback`).
 * - any other engine: treated like webgpu (reads assumed to be round trips).
 */
export function stepPlan(engine: string): StepPlan {
  switch (engine) {
    case 'tensorflow':
    case 'cpu':
      return { readBack: 'each', fixedShapes: false, flags: {} };
    case 'wasm':
      return { readBack: 'heap', fixedShapes: false, flags: {} };
    case 'webgpu':
      return { readBack: 'one', fixedShapes: true, flags: { WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: WEBGPU_SUBMIT_BATCH } };
    default:
      return { readBack: 'one', fixedShapes: false, flags: {} };
  }
}

/** Commands tfjs-webgpu records before it submits them to the GPU queue (its default is 15). */
export const WEBGPU_SUBMIT_BATCH = 15;
