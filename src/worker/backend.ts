/**
 * Engine choice, behind one small interface: which tfjs backend computes gradients. `auto` tries
 * the fastest engine first and falls back with a logged reason; an engine asked for by name that
 * cannot run is an error. A probe (one tiny forward/backward pass of the job's model) turns a
 * kernel the engine lacks into a start-up error instead of a mid-run crash.
 */
import { requireModule, tf } from './tfjs.js';
import type { BackendName } from '../shared/config.js';
import { ErrorCodes, RingtrainError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Tfjs } from '../jobs/job.js';
import { installWebGpu } from './webgpu.js';

export type EngineName = Exclude<BackendName, 'auto'>;

export interface Engine {
  name: EngineName;
  /** Why this engine was chosen (logged and reported to the coordinator). */
  reason: string;
  tf: Tfjs;
}

/** Which device this worker computes on, when the machine has several (`--gpu I`). */
export interface EngineOptions {
  gpu: number | null;
}

/** Preference order for `auto`: native TensorFlow, then WebGPU, then wasm, then pure JS. */
const AUTO_ORDER: EngineName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

function message(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

/** Dynamic import that tolerates the module not being installed (optional engines). */
async function tryImport(specifier: string): Promise<string | null> {
  try {
    requireModule(specifier);
    return null;
  } catch (err) {
    return message(err);
  }
}

/** Registers and activates one engine: `{ why }` when it is unavailable, else a detail for the log. */
async function activate(name: EngineName, requested: BackendName, opts: EngineOptions): Promise<{ why: string } | { detail: string }> {
  let detail = '';
  switch (name) {
    case 'tensorflow': {
      // libtensorflow reads CUDA_VISIBLE_DEVICES when it initialises, i.e. at this import.
      if (opts.gpu !== null) process.env['CUDA_VISIBLE_DEVICES'] = String(opts.gpu);
      const gpu = await tryImport('@tensorflow/tfjs-node-gpu');
      if (gpu !== null) {
        const cpu = await tryImport('@tensorflow/tfjs-node');
        if (cpu !== null) return { why: 'neither @tensorflow/tfjs-node-gpu nor @tensorflow/tfjs-node is installed (see README: Engines)' };
        detail = '@tensorflow/tfjs-node (CPU build)';
      } else {
        detail = `@tensorflow/tfjs-node-gpu${opts.gpu === null ? '' : `, CUDA device ${opts.gpu}`}`;
      }
      break;
    }
    case 'webgpu': {
      // Only an explicit --backend webgpu may compute on a software (fallback) adapter.
      const found = await installWebGpu({ gpu: opts.gpu, allowFallback: requested === 'webgpu' });
      if ('why' in found) return found;
      const a = found.adapter;
      detail = `adapter ${a.name} (${a.backend}, ${a.vendor} ${a.architecture}${a.fallback ? ', software fallback' : ''}): ${a.description}`;
      const err = await tryImport('@tensorflow/tfjs-backend-webgpu');
      if (err !== null) return { why: `@tensorflow/tfjs-backend-webgpu failed to load (${err})` };
      break;
    }
    case 'wasm': {
      const err = await tryImport('@tensorflow/tfjs-backend-wasm');
      if (err !== null) return { why: `@tensorflow/tfjs-backend-wasm failed to load (${err})` };
      break;
    }
    case 'cpu':
      break;
  }
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return { why: `tfjs could not initialise the ${name} backend` };
    await tf.ready();
  } catch (err) {
    return { why: `tfjs could not initialise the ${name} backend (${message(err)})` };
  }
  return { detail };
}

/** Engines whose kernel registry holds `kernel` (cpu always ships every training kernel). */
function enginesWithKernel(kernel: string, except: EngineName): string {
  const have = AUTO_ORDER.filter((e) => e !== except && tf.getKernel(kernel, e) !== undefined);
  return (have.length ? have : ['cpu']).join(' or ');
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
export async function selectEngine(requested: BackendName, log: Logger, probe?: (t: Tfjs) => Promise<void>, opts: EngineOptions = { gpu: null }): Promise<Engine> {
  const candidates = requested === 'auto' ? AUTO_ORDER : [requested];
  const skipped: string[] = [];
  for (const name of candidates) {
    const got = await activate(name, requested, opts);
    if ('why' in got) {
      if (requested !== 'auto') throw new RingtrainError(ErrorCodes.BACKEND_UNAVAILABLE, `--backend ${name} is unavailable: ${got.why}`);
      skipped.push(`${name}: ${got.why}`);
      log.info({ engine: name, reason: got.why }, 'engine unavailable, trying the next');
      continue;
    }
    if (probe) {
      try {
        await probe(tf);
      } catch (err) {
        const kernel = missingKernel(err);
        const reason = kernel
          ? `the ${name} engine lacks kernel ${kernel}, which this job needs; the ${enginesWithKernel(kernel, name)} engine has it`
          : `the ${name} engine failed a test step (${message(err)})`;
        if (requested !== 'auto') throw new RingtrainError(ErrorCodes.BACKEND_UNAVAILABLE, reason);
        skipped.push(`${name}: ${reason}`);
        log.warn({ engine: name, reason }, 'engine skipped');
        continue;
      }
    }
    const why = requested === 'auto' ? (skipped.length ? `auto: first usable engine (skipped ${skipped.join('; ')})` : 'auto: first usable engine') : 'requested with --backend';
    const reason = got.detail ? `${why}; ${got.detail}` : why;
    log.info({ engine: name, reason }, 'engine selected');
    return { name, reason, tf };
  }
  throw new RingtrainError(ErrorCodes.BACKEND_UNAVAILABLE, `no engine could run this job: ${skipped.join('; ')}`);
}
