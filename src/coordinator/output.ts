/**
 * What a run leaves on disk: the trained model in the TensorFlow.js Layers format (model.json +
 * weights.bin, loadable with tf.loadLayersModel) and the run summary. Files are written to a
 * temporary name and renamed, so a crash never leaves a half-written file under the real name.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import type { Tfjs } from '../shared/job/job.js';
import type { RunRecord } from '../jobs/run-record.js';

async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, data, { flush: true });
  await rename(tmp, file);
}

/** Saves the model (with its current weights) into `dir`, with the run's record as metadata. */
export async function saveModel(tf: Tfjs, model: TF.LayersModel, dir: string, record?: RunRecord): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData;
      const bytes = weightData === undefined ? new Uint8Array(0) : new Uint8Array(tf.io.concatenateArrayBuffers(Array.isArray(weightData) ? weightData : [weightData]));
      await writeAtomic(join(dir, 'weights.bin'), bytes);
      const manifest = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['./weights.bin'], weights: artifacts.weightSpecs ?? [] }],
        ...(record ? { userDefinedMetadata: { ringtrain: record } } : {}),
      };
      await writeAtomic(join(dir, 'model.json'), JSON.stringify(manifest));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: bytes.byteLength } };
    }),
  );
}

/** Writes `text` to `file` atomically, creating its folder. */
export async function saveText(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeAtomic(file, text);
}

export async function saveJson(dir: string, name: string, value: unknown): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeAtomic(join(dir, name), `${JSON.stringify(value, null, 2)}\n`);
}
