/**
 * A TensorFlow pip wheel as a source of the TensorFlow C library: its tags (does it fit this
 * host?), its metadata (version, the CUDA wheels its `and-cuda` extra names) and the extraction of
 * only what the tfjs-node binding needs: the two shared libraries and the headers its sources
 * include, with what those include (a few dozen files, not the 5,000 the wheel ships). A wheel is a zip; Python's zipfile streams it, and python3 is needed for node-gyp
 * anyway, so that is what reads it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { basename } from 'node:path';

const run = promisify(execFile);

/** The libraries tfjs-node's binding links, under their soname names inside the wheel. */
export const WHEEL_LIBS = ['tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'];
/** Where the wheel keeps the C headers. */
const INCLUDE = 'tensorflow/include/';

export interface WheelInfo {
  file: string;
  name: string;
  version: string;
  /** Platform tags from the file name, e.g. manylinux_2_27_x86_64. */
  platforms: string[];
  /** A CUDA build (build_info's is_cuda_build), and its CUDA version when it says. */
  cuda: boolean;
  cudaVersion: string | null;
  /** Requirements of the `and-cuda` extra (the nvidia-* wheels a CUDA build runs with). */
  cudaRequirements: string[];
}

/** Parses `name-version(-build)?-python-abi-platform.whl`. */
export function wheelTags(file: string): { name: string; version: string; platforms: string[] } | null {
  const m = /^([^-]+)-([^-]+)(?:-\d[^-]*)?-([^-]+)-([^-]+)-([^-]+)\.whl$/.exec(basename(file));
  if (!m) return null;
  return { name: m[1]!.replace(/_/g, '-').toLowerCase(), version: m[2]!, platforms: m[5]!.split('.') };
}

const LEGACY_MANYLINUX: Record<string, string> = { manylinux1: '2_5', manylinux2010: '2_12', manylinux2014: '2_17' };

/**
 * Why a wheel's platform tags do not fit this host (Linux, its CPU, its glibc), or null when one
 * does. `host` is injectable so the rule is testable without another machine.
 */
export function platformMismatch(platforms: string[], host: { os: string; arch: string; glibc: string | null }): string | null {
  const arch = host.arch === 'x64' ? 'x86_64' : host.arch === 'arm64' ? 'aarch64' : host.arch;
  if (host.os !== 'linux') return `the tensorflow engine is built on Linux only (this is ${host.os})`;
  for (const p of platforms) {
    const m = /^(manylinux1|manylinux2010|manylinux2014|manylinux_(\d+)_(\d+)|linux)_(.+)$/.exec(p);
    if (!m || m[4] !== arch) continue;
    const need = m[2] !== undefined ? `${m[2]}_${m[3]}` : LEGACY_MANYLINUX[m[1]!];
    if (need === undefined || host.glibc === null) return null;
    const [maj, min] = need.split('_').map(Number);
    const [hmaj, hmin] = host.glibc.split('.').map(Number);
    if (hmaj! > maj! || (hmaj === maj && hmin! >= min!)) return null;
    return `the wheel needs glibc ${maj}.${min} (platform ${p}); this host has glibc ${host.glibc}`;
  }
  return `the wheel is for ${platforms.join(', ')}; this host is linux ${arch}`;
}

/** This process's host, as platformMismatch takes it. */
export function thisHost(): { os: string; arch: string; glibc: string | null } {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return { os: process.platform, arch: process.arch, glibc: header?.glibcVersionRuntime ?? null };
}

/** Reads the requirements of the `and-cuda` extra from METADATA (`Requires-Dist: x ; extra == "and-cuda"`). */
export function cudaRequirements(metadata: string): string[] {
  const out: string[] = [];
  for (const line of metadata.split('\n')) {
    const m = /^Requires-Dist:\s*([^;]+);\s*extra\s*==\s*["']and-cuda["']/.exec(line.trim());
    if (m) out.push(m[1]!.trim().replace(/\s+/g, ''));
  }
  return out;
}

const SCRIPT = String.raw`
import json, re, sys, zipfile, os
mode, wheel, dest = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = json.loads(sys.argv[4])
z = zipfile.ZipFile(wheel)
names = set(z.namelist())
if mode == 'inspect':
    meta = [n for n in names if n.endswith('.dist-info/METADATA')]
    bi = 'tensorflow/python/platform/build_info.py'
    print(json.dumps({'metadata': z.read(meta[0]).decode('utf-8', 'replace') if meta else '', 'buildInfo': z.read(bi).decode('utf-8', 'replace') if bi in names else '', 'has': [n for n in cfg['libs'] if n in names]}))
    sys.exit(0)
done, todo, out = set(), list(cfg['headers']), []
while todo:
    h = todo.pop()
    if h in done or cfg['include'] + h not in names:
        continue
    done.add(h)
    text = z.read(cfg['include'] + h).decode('utf-8', 'replace')
    todo.extend(re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M))
members = [cfg['include'] + h for h in sorted(done)] + [n for n in cfg['libs'] if n in names]
members += [n for n in names if any(re.match(p, n) for p in cfg['patterns'])]
for n in members:
    z.extract(n, dest)
    out.append(n)
print(json.dumps({'extracted': out}))
`;

async function python(python3: string, args: string[]): Promise<unknown> {
  const { stdout } = await run(python3, ['-c', SCRIPT, ...args], { maxBuffer: 64 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as unknown;
}

/** Reads a wheel's tags and metadata without extracting anything. */
export async function inspectWheel(python3: string, file: string): Promise<WheelInfo & { missingLibs: string[] }> {
  const tags = wheelTags(file);
  if (!tags) throw new Error(`${basename(file)} is not a wheel file name (name-version-python-abi-platform.whl)`);
  const r = (await python(python3, ['inspect', file, '', JSON.stringify({ libs: WHEEL_LIBS })])) as { metadata: string; buildInfo: string; has: string[] };
  // Every TensorFlow wheel's metadata names the and-cuda extra (the CPU wheel's too), so whether
  // the library was built with CUDA comes from build_info, which tf.sysconfig reads.
  const cuda = /\('is_cuda_build',\s*True\)/.test(r.buildInfo);
  const cudaVersion = /\('cuda_version',\s*'([^']+)'\)/.exec(r.buildInfo)?.[1] ?? null;
  return { file, ...tags, cuda, cudaVersion, cudaRequirements: cudaRequirements(r.metadata), missingLibs: WHEEL_LIBS.filter((l) => !r.has.includes(l)) };
}

/**
 * Extracts the libraries and the headers `headers` (with what they include, recursively) from a
 * TensorFlow wheel into `dest` (paths as in the wheel), or, for a CUDA wheel (nvidia-*), its
 * shared libraries only (`nvidia/NAME/lib/...`).
 */
export async function extractWheel(python3: string, file: string, dest: string, kind: 'tensorflow' | 'cuda', headers: string[] = []): Promise<string[]> {
  const cfg = kind === 'tensorflow'
    ? { libs: WHEEL_LIBS, include: INCLUDE, headers, patterns: [] }
    : { libs: [], include: '', headers: [], patterns: ['^nvidia/[^/]+/lib/[^/]+\\.so[.0-9]*$'] };
  const r = (await python(python3, ['extract', file, dest, JSON.stringify(cfg)])) as { extracted: string[] };
  return r.extracted;
}
