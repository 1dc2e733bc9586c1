/**
 * WebGPU in Node: Dawn's Node bindings (npm `webgpu`) provide `navigator.gpu`, which
 * @tensorflow/tfjs-backend-webgpu then uses. Node has no WebGPU of its own, so the binding must be
 * installed on `globalThis.navigator` before the tfjs backend is imported.
 *
 * Adapter choice: Dawn selects adapters only by name (its `adapter=NAME` flag), and lists them in
 * the error it gives for a name that matches none; `--gpu I` picks the I-th name of that list.
 * Software adapters (Mesa lavapipe, SwiftShader) report `isFallbackAdapter`; `auto` refuses them
 * (a CPU engine is as fast and simpler), an explicit `--backend webgpu` accepts them (that is how
 * the tests run WebGPU on machines without a GPU).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** What the worker learned about the adapter it will compute on. */
export interface AdapterDesc {
  name: string;
  backend: string;
  vendor: string;
  architecture: string;
  description: string;
  fallback: boolean;
}

interface DawnModule {
  create(flags: string[]): GPU;
  /** GPUBufferUsage, GPUMapMode, …: constants browsers define globally and tfjs expects. */
  globals: Record<string, unknown>;
}

/** An adapter name Dawn will match nothing with, so its error lists every adapter. */
const NO_SUCH_ADAPTER = 'adapter=\u0001ringtrain-list-adapters';

/** Parses Dawn's "Available adapters:\n * backend: 'vulkan', name: 'X'" listing. */
export function parseAdapterList(text: string): { backend: string; name: string }[] {
  const out: { backend: string; name: string }[] = [];
  for (const m of text.matchAll(/\* backend: '([^']*)', name: '([^']*)'/g)) out.push({ backend: m[1]!, name: m[2]! });
  return out;
}

/** Where the dynamic loader looks for libraries besides LD_LIBRARY_PATH and its cache. */
const SYSTEM_LIB_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64', '/usr/local/lib', `/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`, `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`];
const VULKAN_LOADER = 'libvulkan.so.1';

/**
 * True when the dynamic loader can find the Vulkan loader library (Linux only; other systems'
 * Dawn needs none). Without it Dawn prints "Couldn't load Vulkan" straight to stderr, past any
 * log level, so ringtrain looks first and says why at its own level instead.
 */
export function vulkanLoaderPresent(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [...(env['LD_LIBRARY_PATH'] ?? '').split(':').filter((d) => d !== ''), ...SYSTEM_LIB_DIRS];
  if (dirs.some((d) => existsSync(join(d, VULKAN_LOADER)))) return true;
  try {
    return readFileSync('/etc/ld.so.cache').includes(VULKAN_LOADER);
  } catch {
    return false;
  }
}

async function loadDawn(): Promise<DawnModule | string> {
  if (!vulkanLoaderPresent()) return `no Vulkan loader (${VULKAN_LOADER}) on this machine, which Dawn needs for WebGPU (see README: Engines)`;
  try {
    return (await import('webgpu')) as unknown as DawnModule;
  } catch (err) {
    return `the webgpu package (Dawn's Node bindings) failed to load: ${err instanceof Error ? err.message.split('\n')[0]! : String(err)}`;
  }
}

/** Lists the adapters Dawn can see, in its own order. */
async function listAdapters(dawn: DawnModule): Promise<{ backend: string; name: string }[]> {
  try {
    await dawn.create([NO_SUCH_ADAPTER]).requestAdapter();
    return [];
  } catch (err) {
    return parseAdapterList(err instanceof Error ? err.message : String(err));
  }
}

function describe(adapter: GPUAdapter, backend: string, name: string): AdapterDesc {
  // `isFallbackAdapter` moved from GPUAdapter to GPUAdapterInfo in the spec; read both.
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const fallback = info.isFallbackAdapter === true || (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true || info.architecture === 'software';
  return { name, backend, vendor: info.vendor, architecture: info.architecture, description: info.description, fallback };
}

/**
 * Finds the adapter this worker should use (the `gpu`-th, or Dawn's default) and, when it is
 * acceptable, installs `navigator.gpu` bound to it. Returns the adapter, or why WebGPU is unusable.
 */
export async function installWebGpu(opts: { gpu: number | null; allowFallback: boolean }): Promise<{ adapter: AdapterDesc } | { why: string }> {
  const dawn = await loadDawn();
  if (typeof dawn === 'string') return { why: dawn };
  const adapters = await listAdapters(dawn);
  if (adapters.length === 0) return { why: 'Dawn found no WebGPU adapter (no Vulkan driver; see README: Engines)' };
  const index = opts.gpu ?? 0;
  const chosen = adapters[index];
  if (!chosen) return { why: `--gpu ${index} asks for adapter ${index} but Dawn lists only ${adapters.length}: ${adapters.map((a) => a.name).join('; ')}` };
  const flags = opts.gpu === null ? [] : [`adapter=${chosen.name}`];
  const gpu = dawn.create(flags);
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (err) {
    return { why: `Dawn could not open adapter ${chosen.name}: ${err instanceof Error ? err.message.split('\n')[0]! : String(err)}` };
  }
  if (!adapter) return { why: `Dawn returned no adapter for ${chosen.name}` };
  const desc = describe(adapter, chosen.backend, opts.gpu === null ? (adapters[0]?.name ?? chosen.name) : chosen.name);
  if (desc.fallback && !opts.allowFallback) {
    return { why: `the only WebGPU adapter is a software one (${desc.name}); use --backend webgpu to run on it anyway` };
  }
  if (opts.gpu !== null && adapters.filter((a) => a.name === chosen.name).length > 1) {
    // Dawn matches by name, so among identical GPUs it always opens the first: say so, loudly.
    desc.description += ` [warning: ${adapters.length} adapters share this name and Dawn selects by name, so --gpu ${index} opens the first of them]`;
  }
  // tfjs-backend-webgpu reads navigator.gpu when it is imported and when it creates its device.
  // Node >= 21 defines a navigator of its own; define ours over it, keeping it replaceable.
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  Object.assign(globalThis, dawn.globals);
  return { adapter: desc };
}
