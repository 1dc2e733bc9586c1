/**
 * Keeps a copy of the best epoch's model in `<output>/best/` (Layers format, same as the final
 * model), with `best.json` saying which epoch and by what measure. "Best" is the lowest
 * validation loss when the job has a validation split; a job without one falls back to the test
 * loss, and best.json says so.
 */
import { join } from 'node:path';
import { saveJson } from './output.js';
import type { EpochEvent, RunObserver, RunStartEvent } from './run-events.js';

export const BEST_DIR = 'best';

export class BestModelExport implements RunObserver {
  readonly name = 'best-model';
  private dir: string | null = null;
  private best = Infinity;

  onStart(e: RunStartEvent): void {
    this.dir = join(e.output, BEST_DIR);
  }

  async onEpoch(e: EpochEvent): Promise<void> {
    const metric = e.valLoss !== null ? 'valLoss' : 'testLoss';
    const value = e.valLoss ?? e.testLoss;
    // NaN never counts as better, so a diverged epoch cannot replace a good model.
    if (!this.dir || !(value < this.best)) return;
    this.best = value;
    await e.saveModel(this.dir);
    await saveJson(this.dir, 'best.json', { epoch: e.epoch, step: e.step, metric, value, trainLoss: e.trainLoss, testLoss: e.testLoss, testAccuracy: e.testAccuracy });
  }
}
