/**
 * Engine choice, behind one small interface: which tfjs backend computes gradients. `auto` tries
 * the fastest engine first and falls back with a logged reason; an engine asked for by name that
 * cannot run is an error. A probe (one tiny forward/backward pass of the job's model) turns a
 * kernel the engine lacks into a start-up error instead of a mid-run crash.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from '../shared/config.js';
import { ErrorCodes, RingtrainError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Tfjs } from '../jobs/job.js';

export type EngineName = Exclude<BackendName, 'auto'>;

export interface Engine {
  name: EngineName;
  /** Why this engine was chosen (logged and reported to the coordinator). */
  reason: string;
  tf: Tfjs;
}

/** Preference order for `auto`: native TensorFlow, then WebGPU, then wasm, then pure JS. */
const AUTO_ORDER: EngineName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

function message(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

/** Dynamic import that tolerates the module not being installed (optional engines). */
async function tryImport(specifier: string): Promise<string | null> {
  try {
    await import(specifier);
    return null;
  } catch (err) {
    return message(err);
  }
}

/** Registers and activates one engine; returns null on success or why it is unavailable. */
async function activate(name: EngineName): Promise<string | null> {
  switch (name) {
    case 'tensorflow': {
      const gpu = await tryImport('@tensorflow/tfjs-node-gpu');
      if (gpu !== null) {
        const cpu = await tryImport('@tensorflow/tfjs-node');
        if (cpu !== null) return 'neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed (see README: GPU engines)';
      }
      break;
    }
    case 'webgpu': {
      // Node has no WebGPU of its own; a binding (see the GPU issue) must have installed navigator.gpu.
      if ((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu === undefined) {
        return 'no WebGPU adapter is available in this process';
      }
      const err = await tryImport('@tensorflow/tfjs-backend-webgpu');
      if (err !== null) return `@tensorflow/tfjs-backend-webgpu is not installed (${err})`;
      break;
    }
    case 'wasm': {
      const err = await tryImport('@tensorflow/tfjs-backend-wasm');
      if (err !== null) return `@tensorflow/tfjs-backend-wasm failed to load (${err})`;
      break;
    }
    case 'cpu':
      break;
  }
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return `tfjs could not initialise the ${name} backend`;
    await tf.ready();
  } catch (err) {
    return `tfjs could not initialise the ${name} backend (${message(err)})`;
  }
  return null;
}

/** Extracts the kernel name from tfjs's "Kernel 'X' not registered for backend 'Y'" errors. */
function missingKernel(err: unknown): string | null {
  const m = /Kernel '([^']+)' not registered/.exec(message(err));
  return m ? m[1]! : null;
}

/**
 * Picks and activates an engine. `probe` runs the job's model once on the candidate; for `auto`
 * a failing probe moves on to the next engine, for an explicit choice it is an error.
 */
export async function selectEngine(requested: BackendName, log: Logger, probe?: (t: Tfjs) => Promise<void>): Promise<Engine> {
  const candidates = requested === 'auto' ? AUTO_ORDER : [requested];
  const skipped: string[] = [];
  for (const name of candidates) {
    const why = await activate(name);
    if (why === null && probe) {
      try {
        await probe(tf);
      } catch (err) {
        const kernel = missingKernel(err);
        const reason = kernel ? `the ${name} engine lacks kernel ${kernel}, which this job needs; the cpu engine has it` : `the ${name} engine failed a test step (${message(err)})`;
        if (requested !== 'auto') throw new RingtrainError(ErrorCodes.BACKEND_UNAVAILABLE, reason);
        skipped.push(reason);
        log.warn({ engine: name, reason }, 'engine skipped');
        continue;
      }
    }
    if (why !== null) {
      if (requested !== 'auto') throw new RingtrainError(ErrorCodes.BACKEND_UNAVAILABLE, `--backend ${name} is unavailable: ${why}`);
      skipped.push(`${name}: ${why}`);
      log.info({ engine: name, reason: why }, 'engine unavailable, trying the next');
      continue;
    }
    const reason = requested === 'auto' ? (skipped.length ? `auto: first usable engine (skipped ${skipped.join('; ')})` : 'auto: first usable engine') : 'requested with --backend';
    log.info({ engine: name, reason }, 'engine selected');
    return { name, reason, tf };
  }
  throw new RingtrainError(ErrorCodes.BACKEND_UNAVAILABLE, `no engine could run this job: ${skipped.join('; ')}`);
}
