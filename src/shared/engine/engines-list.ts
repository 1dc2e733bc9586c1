/**
 * `ringtrain engines`: every engine this machine has, whether it can run and why not, its version
 * and the device it computes on. Each engine is really started (as a worker would), so what this
 * prints is what `--backend NAME` would get.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { activate, type EngineName } from './backend.js';
import { installedEngine } from './native/locate.js';

export interface EngineStatus {
  engine: EngineName;
  available: boolean;
  /** Why it cannot run (absent when it can). */
  why?: string;
  /** Whether `--backend auto` would take it when every engine before it is missing. */
  auto: boolean;
  version: string;
  device: string | null;
  detail: string;
}

const ORDER: EngineName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

function packageVersion(name: string): string {
  try {
    return (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function versionOf(name: EngineName): string {
  switch (name) {
    case 'tensorflow': {
      const found = installedEngine();
      return 'why' in found ? `@tensorflow/tfjs-node ${packageVersion('@tensorflow/tfjs-node')}` : `TensorFlow ${found.record.tfVersion} (${found.record.cuda ? 'CUDA' : 'CPU'} build, ${found.record.wheel}), @tensorflow/tfjs-node ${packageVersion('@tensorflow/tfjs-node')}`;
    }
    case 'webgpu':
      return `@tensorflow/tfjs-backend-webgpu ${packageVersion('@tensorflow/tfjs-backend-webgpu')}, webgpu (Dawn) ${packageVersion('webgpu')}`;
    case 'wasm':
      return `@tensorflow/tfjs-backend-wasm ${packageVersion('@tensorflow/tfjs-backend-wasm')}${tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? ' (SIMD)' : ''}`;
    case 'cpu':
      return `@tensorflow/tfjs-backend-cpu ${tf.version_core}`;
  }
}

/** Starts each engine in turn and reports it; `gpu` is `--gpu I`. */
export async function listEngines(gpu: number | null): Promise<EngineStatus[]> {
  const out: EngineStatus[] = [];
  for (const name of ORDER) {
    // Explicitly asked for, so a software WebGPU adapter counts as available; auto would skip it.
    const got = await activate(name, name, { gpu });
    if ('why' in got) {
      out.push({ engine: name, available: false, why: got.why, auto: false, version: versionOf(name), device: null, detail: '' });
      continue;
    }
    const software = name === 'webgpu' && /software fallback/.test(got.detail);
    out.push({ engine: name, available: true, auto: !software, version: versionOf(name), device: got.device, detail: got.detail, ...(software ? { why: 'software adapter: only an explicit --backend webgpu uses it' } : {}) });
  }
  return out;
}

/** The human-readable table of `ringtrain engines`. */
export function formatEngines(list: EngineStatus[]): string {
  return list
    .map((e) => {
      const state = e.available ? (e.auto ? 'available' : 'available (not for auto)') : 'unavailable';
      const lines = [`${e.engine.padEnd(10)} ${state}`, `           version: ${e.version}`];
      if (e.device) lines.push(`           device:  ${e.device}`);
      if (e.why) lines.push(`           why:     ${e.why}`);
      return lines.join('\n');
    })
    .join('\n');
}
