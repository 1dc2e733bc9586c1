/**
 * Keeps a copy of the best epoch's model in `<output>/best/` (Layers format, same as the final
 * model), with `best.json` saying which epoch. "Best" is the lowest validation loss. A job without
 * a validation split gets no best/: choosing on the test split would make its test score the
 * very figure the choice was optimised for. That is said once, at the first epoch.
 */
import { join } from 'node:path';
import { saveJson } from '../output.js';
import type { EpochEvent, RunObserver, RunStartEvent } from '../run-events.js';

export const BEST_DIR = 'best';

export class BestModelExport implements RunObserver {
  readonly name = 'best-model';
  private dir: string | null = null;
  private best = Infinity;
  private told = false;

  constructor(private readonly log?: { info(obj: object, msg: string): void }) {}

  onStart(e: RunStartEvent): void {
    this.dir = join(e.output, BEST_DIR);
  }

  async onEpoch(e: EpochEvent): Promise<void> {
    if (e.valLoss === null) {
      if (!this.told) this.log?.info({}, 'no validation split: best/ is not kept (choosing on the test split would bias its score)');
      this.told = true;
      return;
    }
    const value = e.valLoss;
    // NaN never counts as better, so a diverged epoch cannot replace a good model.
    if (!this.dir || !(value < this.best)) return;
    this.best = value;
    await e.saveModel(this.dir);
    await saveJson(this.dir, 'best.json', { epoch: e.epoch, step: e.step, metric: 'valLoss', value, trainLoss: e.trainLoss, testLoss: e.testLoss, testAccuracy: e.testAccuracy });
  }
}
