/**
 * `ringtrain engines install-tensorflow`: gets a TensorFlow pip wheel (`pip download`, or a file),
 * checks that it fits this host and exports every C function the binding calls, builds
 * tfjs-node's binding against it into a cache entry named by the wheel's hash, and links that
 * entry into the installed tfjs-node package. Idempotent: a wheel already built only relinks, and
 * an exactly pinned `--pip` spec seen before does not even download again.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { readElfDynamic } from './elf.js';
import { ErrorCodes, RingtrainError } from '../../base/errors.js';
import { bindingHeaders, bindingImports, buildBinding, missingSymbols, REQUIRED_SYMBOLS } from './build.js';
import { findBinding, MARKER, TFJS_NODE, TFJS_NODE_VERSION, tfjsNodeDir, type EngineRecord } from './locate.js';
import { checkToolchain, type Toolchain } from './prereqs.js';
import type { Phases } from './phases.js';
import { extractWheel, inspectWheel, platformMismatch, thisHost, WHEEL_LIBS } from './wheel.js';

const run = promisify(execFile);

/** Limits for the slow parts: a 270 MB download on a slow link, a compile on a busy machine. */
const PIP_TIMEOUT_MS = 30 * 60_000;
const BUILD_TIMEOUT_MS = 15 * 60_000;
const SMOKE_TIMEOUT_MS = 120_000;

export interface InstallOptions {
  /** `--wheel` files: one TensorFlow wheel, plus any nvidia-* CUDA wheels it should run with. */
  wheels: string[];
  /** `--pip SPEC` (null: use `wheels`). */
  pip: string | null;
  cacheDir: string;
  /** Rebuild even when the cache holds this wheel's build. */
  force: boolean;
  phases: Phases;
}

export interface InstallResult extends EngineRecord {
  /** True when the build came from the cache (nothing compiled). */
  cached: boolean;
  tfjsNode: string;
}

function fail(message: string): never {
  throw new RingtrainError(ErrorCodes.ENGINE_INSTALL, message);
}

function tail(err: unknown): string {
  const e = err as { stderr?: string; stdout?: string; message?: string };
  const text = `${e.stderr ?? ''}${e.stdout ?? ''}` || (e.message ?? String(err));
  return text.trim().split('\n').slice(-3).join(' | ');
}

async function sha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** `pip download --no-deps` of one requirement into a fresh folder; returns the wheel's path. */
async function pipDownload(tools: Toolchain, spec: string, into: string): Promise<string> {
  const dir = await mkdtemp(join(into, 'pip-'));
  try {
    await run(tools.python3, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--disable-pip-version-check', '-d', dir, spec], { timeout: PIP_TIMEOUT_MS, maxBuffer: 64 << 20 });
  } catch (err) {
    fail(`pip download ${spec} failed (${tail(err)}): check the spec and pip's index settings, or download the wheel elsewhere and use --wheel FILE.whl`);
  }
  const whl = (await readdir(dir)).filter((f) => f.endsWith('.whl'));
  if (whl.length !== 1) fail(`pip download ${spec} left ${whl.length} wheels in ${dir}, expected one`);
  return join(dir, whl[0]!);
}

/** Pins seen before: an exactly pinned spec always names the same wheel. */
async function readPins(cacheDir: string): Promise<Record<string, string>> {
  try {
    return JSON.parse(await readFile(join(cacheDir, 'pins.json'), 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}

async function readRecord(entry: string): Promise<EngineRecord | null> {
  try {
    return JSON.parse(await readFile(join(entry, 'engine.json'), 'utf8')) as EngineRecord;
  } catch {
    return null;
  }
}

/** Links a cache entry into tfjs-node: deps/ → the entry's deps, a copy of the binding, the marker. */
async function link(entry: string, record: EngineRecord, tfjsNode: string): Promise<void> {
  const deps = join(tfjsNode, 'deps');
  await rm(deps, { recursive: true, force: true });
  await symlink(join(entry, 'deps'), deps, 'dir');
  const target = join(tfjsNode, record.binding);
  await mkdir(dirname(target), { recursive: true });
  await copyFile(join(entry, record.binding), `${target}.tmp`);
  await rename(`${target}.tmp`, target);
  await writeFile(join(tfjsNode, MARKER), `${JSON.stringify(record, null, 2)}\n`);
}

/** Loads the linked engine in a fresh process: TF_Version and whether it computes on a GPU. */
async function smoke(tfjsNode: string): Promise<{ tfVersion: string; gpu: boolean }> {
  const code = `const tf = require(${JSON.stringify(tfjsNode)}); const b = tf.backend(); process.stdout.write(JSON.stringify({ tfVersion: b.binding.TF_Version, gpu: b.isUsingGpuDevice === true }));`;
  try {
    const { stdout } = await run(process.execPath, ['-e', code], { timeout: SMOKE_TIMEOUT_MS, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
    return JSON.parse(stdout) as { tfVersion: string; gpu: boolean };
  } catch (err) {
    fail(`the built engine does not load (${tail(err)})`);
  }
}

/** Extracts, verifies and builds one wheel (plus its CUDA wheels) into the cache entry `entry`. */
async function build(tools: Toolchain, wheel: string, cudaWheels: string[], hash: string, entry: string, cacheDir: string, phases: Phases): Promise<EngineRecord> {
  const work = await mkdtemp(join(cacheDir, 'build-'));
  try {
    const x = join(work, 'wheel');
    await phases.run('extracting the libraries and headers from the wheel', async () => extractWheel(tools.python3, wheel, x, 'tensorflow', await bindingHeaders(tools.tfjsNode)));
    const missing = await phases.run('checking the TF_ and TFE_ functions the binding calls', () => missingSymbols(WHEEL_LIBS.map((l) => join(x, l)), REQUIRED_SYMBOLS));
    if (missing.length) fail(`${basename(wheel)} lacks ${missing.length} C functions the tfjs-node binding calls (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}): use a TensorFlow 2.x wheel that ships the full C API`);
    const pkg = join(work, 'pkg');
    for (const cw of cudaWheels) await phases.run(`extracting CUDA libraries from ${basename(cw)}`, () => extractWheel(tools.python3, cw, join(pkg, 'deps'), 'cuda'));
    try {
      await phases.run('building the native binding (node-gyp)', () => buildBinding(tools, x, pkg, BUILD_TIMEOUT_MS));
    } catch (err) {
      fail(`building the binding failed (${tail(err)})`);
    }
    const binding = findBinding(pkg);
    if (binding === null) fail(`the build left no tfjs_binding.node under ${join(pkg, 'lib')}`);
    const unresolved = await missingSymbols(WHEEL_LIBS.map((l) => join(pkg, 'deps', 'lib', basename(l))), await bindingImports(join(pkg, binding)));
    if (unresolved.length) fail(`the built binding calls C functions the wheel does not export: ${unresolved.join(', ')}`);
    const tags = await inspectWheel(tools.python3, wheel);
    // TensorFlow's CUDA libraries find the nvidia-* wheels' libraries through their own RUNPATH
    // ($ORIGIN/../nvidia/NAME/lib, as in site-packages); recorded, so a build without it is said.
    const cudaSearchPath = tags.cuda ? (await Promise.all(WHEEL_LIBS.map(async (l) => (await readElfDynamic(join(pkg, 'deps', 'lib', basename(l)))).runpath))).flat().filter((p) => p.includes('nvidia')) : [];
    const record: EngineRecord = {
      wheel: basename(wheel), sha256: hash, package: tags.name, version: tags.version, cuda: tags.cuda,
      cudaWheels: cudaWheels.map((w) => basename(w)), ...(tags.cuda ? { cudaSearchPath } : {}), tfVersion: '', binding, builtAt: new Date().toISOString(),
    };
    // Only what runs stays in the cache: the binding and the libraries (headers were for the build).
    const staged = join(work, 'entry');
    await mkdir(join(staged, 'deps'), { recursive: true });
    await rename(join(pkg, 'lib'), join(staged, 'lib'));
    await rename(join(pkg, 'deps', 'lib'), join(staged, 'deps', 'lib'));
    if (existsSync(join(pkg, 'deps', 'nvidia'))) await rename(join(pkg, 'deps', 'nvidia'), join(staged, 'deps', 'nvidia'));
    await writeFile(join(staged, 'engine.json'), `${JSON.stringify(record, null, 2)}\n`);
    await rm(entry, { recursive: true, force: true });
    await rename(staged, entry);
    return record;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Installs the native TensorFlow engine; see the file comment. */
export async function installTensorflow(opts: InstallOptions): Promise<InstallResult> {
  const { phases } = opts;
  const tfjsNode = tfjsNodeDir();
  if (tfjsNode === null) fail(`${TFJS_NODE} is not installed: run npm install --ignore-scripts ${TFJS_NODE}@${TFJS_NODE_VERSION} (ringtrain lists it as an optional dependency)`);
  await mkdir(opts.cacheDir, { recursive: true });
  const pins = await readPins(opts.cacheDir);
  const pinned = opts.pip !== null && /^[A-Za-z0-9_.-]+==[^*,;]+$/.test(opts.pip) ? opts.pip : null;
  const finish = async (entry: string, record: EngineRecord, cached: boolean): Promise<InstallResult> => {
    await phases.run('linking the engine into tfjs-node', () => link(entry, record, tfjsNode));
    const s = await phases.run('loading the engine once', () => smoke(tfjsNode));
    const done = { ...record, tfVersion: s.tfVersion };
    if (done.tfVersion !== record.tfVersion) {
      await writeFile(join(entry, 'engine.json'), `${JSON.stringify(done, null, 2)}\n`);
      await writeFile(join(tfjsNode, MARKER), `${JSON.stringify(done, null, 2)}\n`);
    }
    if (pinned) await writeFile(join(opts.cacheDir, 'pins.json'), `${JSON.stringify({ ...pins, [pinned]: record.sha256 }, null, 2)}\n`);
    return { ...done, cached, tfjsNode };
  };
  if (pinned && !opts.force && pins[pinned]) {
    const entry = join(opts.cacheDir, pins[pinned]!.slice(0, 16));
    const record = await readRecord(entry);
    if (record && findBinding(entry) !== null) return finish(entry, record, true);
  }

  // Relinking a cached build needs none of the build tools; anything else needs them all.
  const tools = await phases.run('checking prerequisites', () => checkToolchain({ pip: opts.pip !== null }));
  const downloads = await mkdtemp(join(opts.cacheDir, 'download-'));
  try {
    let wheel: string;
    if (opts.pip !== null) {
      const spec = opts.pip;
      wheel = await phases.run(`pip download ${spec}`, () => pipDownload(tools, spec, downloads));
    } else {
      if (opts.wheels.length === 0) fail('name a wheel: --wheel FILE.whl, or --pip [SPEC] to download one');
      const tf = opts.wheels.filter((w) => !basename(w).startsWith('nvidia_'));
      if (tf.length !== 1) fail(`give exactly one TensorFlow wheel with --wheel (got ${tf.length}: ${tf.map((w) => basename(w)).join(', ') || 'none'}); CUDA wheels are nvidia_*.whl`);
      wheel = tf[0]!;
    }
    for (const w of opts.pip === null ? opts.wheels : [wheel]) if (!existsSync(w)) fail(`wheel ${w} not found: check the path, or use --pip [SPEC] to download one`);
    const info = await phases.run(`reading ${basename(wheel)}`, () => inspectWheel(tools.python3, wheel));
    const mismatch = platformMismatch(info.platforms, thisHost());
    if (mismatch) fail(`${basename(wheel)} does not fit this host: ${mismatch}`);
    if (info.missingLibs.length) fail(`${basename(wheel)} holds no ${info.missingLibs.join(' or ')}: use a TensorFlow wheel (tensorflow-cpu, or tensorflow for CUDA)`);
    const hash = await phases.run('hashing the wheel', () => sha256(wheel));
    const entry = join(opts.cacheDir, hash.slice(0, 16));
    const cached = await readRecord(entry);
    if (cached && !opts.force && findBinding(entry) !== null) return await finish(entry, cached, true);

    let cudaWheels = opts.pip === null ? opts.wheels.filter((w) => w !== wheel) : [];
    if (opts.pip !== null && info.cuda) {
      cudaWheels = [];
      for (const req of info.cudaRequirements) cudaWheels.push(await phases.run(`pip download ${req}`, () => pipDownload(tools, req, downloads)));
    }
    const record = await build(tools, wheel, cudaWheels, hash, entry, opts.cacheDir, phases);
    return await finish(entry, record, false);
  } finally {
    await rm(downloads, { recursive: true, force: true });
  }
}
