/**
 * Where the native TensorFlow engine lives. `@tensorflow/tfjs-node` (an optional dependency whose
 * own download script stays off) supplies the JavaScript; its native binding and the TensorFlow
 * libraries are built by `ringtrain engines install-tensorflow` into a cache folder keyed by the
 * wheel's hash, and linked into the tfjs-node package, where its loader looks for them. `npm ci`
 * wipes node_modules but not the cache, so installing again only relinks.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package tfjs-node's binding is built from; pinned, since the binding's C calls are. */
export const TFJS_NODE = '@tensorflow/tfjs-node';
export const TFJS_NODE_VERSION = '4.22.0';
/** The wheel `--pip` downloads when no spec is given: TensorFlow's CPU build. */
export const DEFAULT_PIP_SPEC = 'tensorflow-cpu==2.21.0';
/** The command a person runs to install the engine (named in every "not installed" message). */
export const INSTALL_HINT = 'npx ringtrain engines install-tensorflow --pip';
/** What the install writes next to the binding, describing what it was built from. */
export const MARKER = 'ringtrain-engine.json';

/** The ringtrain package root (this file is at src|dist/worker/native/). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** Cache folder for built engines (gitignored .cache/ of the package, unless told otherwise). */
export function defaultCacheDir(): string {
  return join(PACKAGE_ROOT, '.cache', 'tensorflow');
}

/** What an install records about a built engine (in the cache and next to the binding). */
export interface EngineRecord {
  wheel: string;
  sha256: string;
  package: string;
  version: string;
  cuda: boolean;
  /** The CUDA wheels whose libraries sit in deps/nvidia (empty for the CPU build). */
  cudaWheels: string[];
  /** RUNPATH entries of the libraries that lead to the nvidia-* wheels' libraries (CUDA builds). */
  cudaSearchPath?: string[];
  /** TF_Version() as the built binding reports it. */
  tfVersion: string;
  /** Path of the binding relative to the tfjs-node package, e.g. lib/napi-v8/tfjs_binding.node. */
  binding: string;
  builtAt: string;
}

/** The installed tfjs-node package folder, or null when the optional dependency is absent. */
export function tfjsNodeDir(): string | null {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${TFJS_NODE}/package.json`));
  } catch {
    return null;
  }
}

/** Finds lib/napi-v*\/tfjs_binding.node under a package (or cache) folder. */
export function findBinding(dir: string): string | null {
  const lib = join(dir, 'lib');
  if (!existsSync(lib)) return null;
  for (const d of readdirSync(lib)) {
    if (/^napi-v\d+$/.test(d) && existsSync(join(lib, d, 'tfjs_binding.node'))) return `lib/${d}/tfjs_binding.node`;
  }
  return null;
}

/** The engine linked into tfjs-node now, or why there is none (one line, naming the fix). */
export function installedEngine(): { record: EngineRecord; dir: string } | { why: string } {
  // Keeps `auto` (and the coordinator's evaluation) off the native engine without uninstalling it.
  // Not a RINGTRAIN_* name: those are the CLI's flags.
  if (process.env['RT_NO_TENSORFLOW'] === '1') return { why: 'turned off by RT_NO_TENSORFLOW=1' };
  const dir = tfjsNodeDir();
  if (dir === null) return { why: `${TFJS_NODE} is not installed (an optional dependency of ringtrain): run npm install --ignore-scripts ${TFJS_NODE}@${TFJS_NODE_VERSION}, then ${INSTALL_HINT}` };
  const marker = join(dir, MARKER);
  if (!existsSync(marker) || findBinding(dir) === null) return { why: `the native TensorFlow engine is not installed: run ${INSTALL_HINT} (see README: Engines)` };
  if (!existsSync(join(dir, 'deps', 'lib', 'libtensorflow_cc.so.2'))) return { why: `the native TensorFlow engine's libraries are gone from its cache: run ${INSTALL_HINT} again` };
  try {
    return { record: JSON.parse(readFileSync(marker, 'utf8')) as EngineRecord, dir };
  } catch {
    return { why: `${marker} is unreadable: run ${INSTALL_HINT} again` };
  }
}
