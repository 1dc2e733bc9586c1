/** Start-message parts for tests that speak the protocol themselves: Adam's, built by the optim layer. */
import { resolveOptimizer } from '../../src/shared/optim/index.js';
import type { TrainParams, TrainState } from '../../src/shared/protocol/protocol.js';

const adam = resolveOptimizer({ lr: 1e-3 });

/** A fresh state of P zero weights (Adam, nothing applied). */
export function freshState(P: number, step = 0): TrainState {
  return { step, epoch: 0, cursor: 0, params: new Float32Array(P), optim: adam.createState(P) };
}

/** Hyper-parameters of a plain Adam run. */
export function adamParams(over: Partial<TrainParams> = {}): TrainParams {
  return {
    epochs: 1, batchSize: 32, optimizer: { name: adam.name, config: adam.getConfig() }, clipNorm: 0, seed: 42, checksumEvery: 10,
    stepTimeoutMs: 20_000, onNonfinite: 'skip', compress: 'none', accumulate: 1, ...over,
  };
}
