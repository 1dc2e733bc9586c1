/**
 * The text of the job module fit() writes for a job given as an object (see job-module.ts), and
 * the named losses it can carry. Each loss is per sample (one value per row), as the Job contract
 * asks, and is tfjs's own function of that name.
 */

/** tfjs's per-sample losses by name; `categoricalCrossentropy` and `binaryCrossentropy` take probabilities. */
export const LOSS_SOURCES = {
  meanSquaredError: '(tf, yTrue, yPred) => tf.metrics.meanSquaredError(yTrue, yPred)',
  meanAbsoluteError: '(tf, yTrue, yPred) => tf.metrics.meanAbsoluteError(yTrue, yPred)',
  categoricalCrossentropy: '(tf, yTrue, yPred) => tf.metrics.categoricalCrossentropy(yTrue, yPred)',
  binaryCrossentropy: '(tf, yTrue, yPred) => tf.metrics.binaryCrossentropy(yTrue, yPred)',
} as const;

export type LossName = keyof typeof LOSS_SOURCES;
export const LOSS_NAMES = Object.keys(LOSS_SOURCES) as LossName[];

/**
 * A plain ES module (no imports but node:fs) exporting the job: its description and model
 * configuration from job.json, its splits from `<split>.bin` (x rows, then y rows, float32), and
 * `lossSource` as its loss. The data is the same on every process, so workers started with
 * `--data auto` match the coordinator's fingerprint and receive only batch indices.
 */
export function jobModuleText(name: string, lossSource: string): string {
  return `// Written by ringtrain fit() for the job ${JSON.stringify(name)}, so that worker processes can import it.
import { readFileSync } from 'node:fs';

const meta = JSON.parse(readFileSync(new URL('./job.json', import.meta.url), 'utf8'));

function split(key) {
  const s = meta.splits[key];
  if (!s) return undefined;
  const b = readFileSync(new URL('./' + key + '.bin', import.meta.url));
  const all = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return { x: all.slice(0, s.size * s.xWidth), y: all.slice(s.size * s.xWidth), size: s.size };
}

const loss = ${lossSource};

export default {
  name: meta.name,
  inputShape: meta.inputShape,
  outputSize: meta.outputSize,
  accuracy: meta.accuracy,
  defaults: meta.defaults,
  createModel: (tf) => tf[meta.model.class].fromConfig(tf[meta.model.class], JSON.parse(JSON.stringify(meta.model.config))),
  loadData: () => {
    const data = { train: split('train'), test: split('test') };
    const validation = split('validation');
    if (validation) data.validation = validation;
    return data;
  },
  loss,
};
`;
}
