/**
 * The browser of the dashboard test, prepared without installing anything: the dev dependency
 * @sparticuz/chromium ships a headless Chromium build as brotli-compressed files, with the only
 * libraries it needs beyond glibc (NSS, NSPR, expat) and SwiftShader. This unpacks them once into
 * .cache/chromium/VERSION (into a temporary folder renamed into place, so parallel runs never see
 * half a browser) and tells the tests where the binary is. Vitest runs this as a global setup.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createBrotliDecompress } from 'node:zlib';
import type { TestProject } from 'vitest/node';

/** Where the unpacked browser lives and how to start it. */
export interface ChromiumInstall {
  executablePath: string;
  /** Extra environment: the bundled NSS/NSPR/expat libraries on the library path. */
  env: Record<string, string>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The browser, or why it could not be prepared (the dashboard test fails with it). */
    chromium: ChromiumInstall | { error: string };
  }
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function packageDir(): { bin: string; version: string } {
  const require = createRequire(import.meta.url);
  // The package exports no package.json: walk up from its entry point to its folder.
  let dir = dirname(require.resolve('@sparticuz/chromium'));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'bin'))) {
    if (dirname(dir) === dir) throw new Error('@sparticuz/chromium has no bin/ folder: run npm ci');
    dir = dirname(dir);
  }
  const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  return { bin: join(dir, 'bin'), version };
}

/**
 * Unpacks a .tar.br into `into`: decompressed to a file first, since tar may exit before reading
 * an archive's trailing padding and a pipe into it would then fail.
 */
async function untarBrotli(file: string, into: string): Promise<void> {
  mkdirSync(into, { recursive: true });
  const tarFile = join(into, `.${basename(file, '.br')}`);
  await pipeline(createReadStream(file), createBrotliDecompress(), createWriteStream(tarFile));
  const r = spawnSync('tar', ['-x', '--no-same-owner', '-f', tarFile, '-C', into], { encoding: 'utf8', timeout: 60_000 });
  rmSync(tarFile, { force: true });
  if (r.status !== 0) throw new Error(`tar -x of ${file} failed (${r.status ?? r.error?.message}): ${(r.stderr ?? '').trim()}`);
}

function installOf(dir: string): ChromiumInstall {
  return { executablePath: join(dir, 'chromium'), env: { LD_LIBRARY_PATH: [join(dir, 'lib'), process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':') } };
}

/** Unpacks the browser if it is not there yet; throws with the reason when it cannot start. */
export async function prepareChromium(): Promise<ChromiumInstall> {
  const { bin, version } = packageDir();
  const dir = join(ROOT, '.cache', 'chromium', version);
  if (!existsSync(join(dir, 'chromium'))) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await pipeline(createReadStream(join(bin, 'chromium.br')), createBrotliDecompress(), createWriteStream(join(tmp, 'chromium')));
    chmodSync(join(tmp, 'chromium'), 0o755);
    // SwiftShader (libEGL/libGLESv2 beside the binary), fonts, and the AL2023 libraries under lib/.
    for (const part of ['swiftshader', 'fonts', 'al2023']) await untarBrotli(join(bin, `${part}.tar.br`), tmp);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another run got there first: use its copy.
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(join(dir, 'chromium'))) throw e;
    }
  }
  const install = installOf(dir);
  const r = spawnSync(install.executablePath, ['--version'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...install.env } });
  if (r.status !== 0) throw new Error(`the bundled Chromium in ${dir} does not start (${r.status ?? r.signal}): ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' | ')}`);
  return install;
}

/**
 * Vitest global setup: unpacks the browser once per run and hands its path to the tests. A failure
 * is handed on instead of thrown, so the browser test fails with it and every other test runs.
 */
export default async function setup(project: TestProject): Promise<void> {
  try {
    project.provide('chromium', await prepareChromium());
  } catch (err) {
    project.provide('chromium', { error: err instanceof Error ? err.message : String(err) });
  }
}
