/**
 * Engine choice, behind one small interface: which tfjs backend computes gradients. `auto` tries
 * the fastest engine first and falls back with a logged reason; an engine asked for by name that
 * cannot run is an error. A probe (one tiny forward/backward pass of the job's model) turns a
 * kernel the engine lacks into a start-up error instead of a mid-run crash.
 */
import { requireModule, tf } from './tfjs.js';
import type { BackendName } from '../config/config.js';
import { ErrorCodes, RingtrainError } from '../base/errors.js';
import type { Logger } from '../base/logger.js';
import type { Tfjs } from '../job/job.js';
import { installWebGpu } from './webgpu.js';
import { INSTALL_HINT, installedEngine } from './native/locate.js';

export type EngineName = Exclude<BackendName, 'auto'>;

export interface Engine {
  name: EngineName;
  /** Why this engine was chosen (logged and reported to the coordinator). */
  reason: string;
  tf: Tfjs;
  /** What the engine computes on (CPU, a CUDA device, a WebGPU adapter), reported to the coordinator. */
  device: string;
  /** Intra-op threads of the tensorflow engine (`--threads`); null: the engine's own choice. */
  threads: number | null;
}

/** Which device this worker computes on, when the machine has several (`--gpu I`), and its threads. */
export interface EngineOptions {
  gpu: number | null;
  /** TensorFlow intra-op threads (`--threads N`); null leaves TensorFlow's default (all cores). */
  threads?: number | null;
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

/** Registers and activates one engine: `{ why }` when it is unavailable, else a detail for the log and its device. */
export async function activate(name: EngineName, requested: BackendName, opts: EngineOptions): Promise<{ why: string } | { detail: string; device: string }> {
  let detail = '';
  let device = 'CPU';
  switch (name) {
    case 'tensorflow': {
      const found = installedEngine();
      if ('why' in found) return found;
      // libtensorflow reads these when it creates its context, i.e. at the import below.
      if (opts.gpu !== null) process.env['CUDA_VISIBLE_DEVICES'] = String(opts.gpu);
      // A CUDA build otherwise maps nearly all of a GPU's memory at start, which leaves nothing
      // for a second process on it (the coordinator evaluates on GPU 0 next to worker 0).
      if (found.record.cuda) process.env['TF_FORCE_GPU_ALLOW_GROWTH'] ??= 'true';
      if (opts.threads) {
        // tfjs runs one op at a time (eager), so the inter-op pool has nothing to run in parallel.
        process.env['TF_NUM_INTRAOP_THREADS'] = String(opts.threads);
        process.env['TF_NUM_INTEROP_THREADS'] = '1';
      }
      process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';
      const err = await tryImport('@tensorflow/tfjs-node');
      if (err !== null) return { why: `@tensorflow/tfjs-node failed to load (${err}); run ${INSTALL_HINT} again` };
      detail = `TensorFlow ${found.record.tfVersion} from ${found.record.wheel}`;
      break;
    }
    case 'webgpu': {
      // Only an explicit --backend webgpu may compute on a software (fallback) adapter.
      const found = await installWebGpu({ gpu: opts.gpu, allowFallback: requested === 'webgpu' });
      if ('why' in found) return found;
      const a = found.adapter;
      device = `WebGPU adapter ${a.name}`;
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
  if (name === 'tensorflow') device = tensorflowDevice(opts.gpu);
  return { detail, device };
}

/**
 * The device the tensorflow engine computes on: tfjs-node takes the first GPU TensorFlow lists
 * (the one CUDA_VISIBLE_DEVICES leaves), else the host CPU; a GPU asked for but not found (a CPU
 * build, no driver) is said, since TensorFlow itself falls back to the CPU silently.
 */
function tensorflowDevice(gpu: number | null): string {
  const visible = process.env['CUDA_VISIBLE_DEVICES'];
  if ((tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true) return `CUDA GPU${visible === undefined ? '' : ` (CUDA_VISIBLE_DEVICES=${visible})`}`;
  if (gpu === null) return 'CPU';
  const found = installedEngine();
  const build = 'why' in found ? '' : found.record.cuda ? 'CUDA build: no usable GPU or driver' : 'a CPU build';
  return `CPU (--gpu ${gpu} asked for CUDA device ${gpu}; ${build})`;
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
    // Only the tensorflow engine takes a thread count; wasm and cpu run on one thread in Node.
    const threads = name === 'tensorflow' ? opts.threads ?? null : name === 'webgpu' ? null : 1;
    log.info({ engine: name, reason, device: got.device, threads: threads ?? 'engine default' }, 'engine selected');
    return { name, reason, tf, device: got.device, threads };
  }
  throw new RingtrainError(ErrorCodes.BACKEND_UNAVAILABLE, `no engine could run this job: ${skipped.join('; ')}`);
}
