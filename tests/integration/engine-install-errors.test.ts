/**
 * `ringtrain engines install-tensorflow` refuses what it cannot build with one line naming the
 * fix, before downloading or compiling anything: a missing prerequisite, a missing wheel, a wheel
 * for another platform, a wheel without the TensorFlow C library.
 */
import { mkdtempSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/** A real (tiny) wheel: a zip with METADATA and, optionally, a file at `lib`. */
function fakeWheel(name: string, lib?: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rt-whl-')), name);
  const code = `import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\nz.writestr('tensorflow_cpu-2.21.0.dist-info/METADATA','Name: tensorflow_cpu\\nVersion: 2.21.0\\n')\nif len(sys.argv)>2: z.writestr(sys.argv[2],'x')\nz.close()`;
  execFileSync('python3', ['-c', code, file, ...(lib ? [lib] : [])]);
  return file;
}

describe('engines install-tensorflow refuses with one line', () => {
  const cases: [string, string[], Record<string, string>, number, RegExp][] = [
    ['no wheel named', [], {}, 2, /^ringtrain: error RT_BAD_CONFIG: name the wheel: --pip \[SPEC\] \(default tensorflow-cpu==2\.21\.0\) or --wheel FILE\.whl$/],
    ['a missing C++ compiler', ['--wheel', '/nonexistent/x.whl'], { CXX: '/nonexistent/c++' }, 1, /^ringtrain: error RT_ENGINE_INSTALL: C\+\+ compiler \/nonexistent\/c\+\+ not found: install one \(e\.g\. apt-get install g\+\+\), or set CXX$/],
    ['a missing python3', ['--pip'], { PYTHON: '/nonexistent/python3' }, 1, /^ringtrain: error RT_ENGINE_INSTALL: python3 not found .*install Python 3/],
    ['a missing wheel file', ['--wheel', '/nonexistent/tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl'], {}, 1, /^ringtrain: error RT_ENGINE_INSTALL: wheel \/nonexistent\/\S+ not found: check the path, or use --pip \[SPEC\] to download one$/],
    ['a wheel for another platform', ['--wheel', fakeWheel('tensorflow_cpu-2.21.0-cp311-cp311-macosx_12_0_arm64.whl')], {}, 1, /^ringtrain: error RT_ENGINE_INSTALL: \S+ does not fit this host: the wheel is for macosx_12_0_arm64; this host is linux /],
    ['a wheel without the C library', ['--wheel', fakeWheel('tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_17_x86_64.whl', 'tensorflow/libtensorflow_framework.so.2')], {}, 1, /^ringtrain: error RT_ENGINE_INSTALL: \S+ holds no tensorflow\/libtensorflow_cc\.so\.2: use a TensorFlow wheel/],
  ];
  it.each(cases)('%s', async (_what, args, env, code, message) => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'rt-tfcache-'));
    const r = await runCli(['engines', 'install-tensorflow', '--cache-dir', cacheDir, ...args], { env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(code);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('ringtrain:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
  });
});
