/**
 * Builds tfjs-node's native binding against the TensorFlow C library of a pip wheel, the way its
 * own `build-addon-from-source` script does, with the wheel standing in for the libtensorflow
 * archive its installer can no longer download: binding.gyp links `-ltensorflow
 * -ltensorflow_framework` from deps/lib with rpath $ORIGIN/../../deps/lib and includes deps/include.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, readdir, rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readElfDynamic } from './elf.js';
import type { Toolchain } from './prereqs.js';

const run = promisify(execFile);

/**
 * The TensorFlow C functions tfjs-node 4.22.0's binding calls (its undefined TF_ and TFE_ dynamic
 * symbols; a test compares this list with a freshly built binding). A wheel whose libraries lack
 * one of them cannot run the engine.
 */
export const REQUIRED_SYMBOLS = [
  'TFE_ContextListDevices', 'TFE_DeleteContext', 'TFE_DeleteContextOptions', 'TFE_DeleteOp', 'TFE_DeleteTensorHandle', 'TFE_Execute',
  'TFE_NewContext', 'TFE_NewContextOptions', 'TFE_NewOp', 'TFE_NewTensorHandle', 'TFE_OpAddInput', 'TFE_OpSetAttrBool', 'TFE_OpSetAttrBoolList',
  'TFE_OpSetAttrFloat', 'TFE_OpSetAttrFloatList', 'TFE_OpSetAttrInt', 'TFE_OpSetAttrIntList', 'TFE_OpSetAttrShape', 'TFE_OpSetAttrString',
  'TFE_OpSetAttrType', 'TFE_TensorHandleCopyToDevice', 'TFE_TensorHandleDataType', 'TFE_TensorHandleDim', 'TFE_TensorHandleNumDims',
  'TFE_TensorHandleResolve', 'TF_AllocateTensor', 'TF_DataTypeSize', 'TF_DeleteBuffer', 'TF_DeleteDeviceList', 'TF_DeleteGraph', 'TF_DeleteSession',
  'TF_DeleteSessionOptions', 'TF_DeleteStatus', 'TF_DeleteTensor', 'TF_DeviceListCount', 'TF_DeviceListName', 'TF_DeviceListType', 'TF_Dim',
  'TF_GetCode', 'TF_GraphOperationByName', 'TF_LoadSessionFromSavedModel', 'TF_Message', 'TF_NewBuffer', 'TF_NewBufferFromString', 'TF_NewGraph',
  'TF_NewSessionOptions', 'TF_NewStatus', 'TF_NewTensor', 'TF_NumDims', 'TF_SessionRun', 'TF_TensorByteSize', 'TF_TensorData',
  'TF_TensorElementCount', 'TF_TensorType', 'TF_Version',
];

/** The TensorFlow headers the binding's sources include (`#include "tensorflow/..."` and the like). */
export async function bindingHeaders(tfjsNode: string): Promise<string[]> {
  const dir = join(tfjsNode, 'binding');
  const found = new Set(['tensorflow/c/c_api.h', 'tensorflow/c/eager/c_api.h']);
  for (const f of await readdir(dir)) {
    if (!/\.(cc|h)$/.test(f)) continue;
    for (const m of (await readFile(join(dir, f), 'utf8')).matchAll(/^\s*#\s*include\s+"((?:tensorflow|tsl|xla)\/[^"]+)"/gm)) found.add(m[1]!);
  }
  return [...found].sort();
}

/** Dynamic symbol names without their version (`TF_Version@tensorflow` → `TF_Version`). */
function bare(names: Iterable<string>): Set<string> {
  return new Set([...names].map((n) => n.split('@')[0]!));
}

/** The TF_ and TFE_ functions `needed` names that none of `libs` exports. */
export async function missingSymbols(libs: string[], needed: Iterable<string>): Promise<string[]> {
  const have = new Set<string>();
  for (const lib of libs) for (const s of bare((await readElfDynamic(lib)).defined)) have.add(s);
  return [...needed].filter((s) => !have.has(s));
}

/** The TF_ and TFE_ functions a built binding imports. */
export async function bindingImports(binding: string): Promise<string[]> {
  return [...bare((await readElfDynamic(binding)).undefined)].filter((s) => /^TFE?_/.test(s)).sort();
}

/**
 * Lays out a copy of the tfjs-node package in `pkg` with the wheel's files from `wheelRoot`
 * (libraries under their soname names plus the unversioned names the linker looks for, headers
 * under deps/include) and runs node-pre-gyp's build from source. Returns the build's output.
 */
export async function buildBinding(tools: Toolchain, wheelRoot: string, pkg: string, timeoutMs: number): Promise<string> {
  await cp(tools.tfjsNode, pkg, { recursive: true, filter: (src) => !/^[/\\](node_modules|deps|lib|build)$/.test(src.slice(tools.tfjsNode.length)) });
  const lib = join(pkg, 'deps', 'lib');
  await mkdir(lib, { recursive: true });
  await rename(join(wheelRoot, 'tensorflow', 'include'), join(pkg, 'deps', 'include'));
  for (const [soname, link] of [['libtensorflow_cc.so.2', 'libtensorflow.so'], ['libtensorflow_framework.so.2', 'libtensorflow_framework.so']] as const) {
    await rename(join(wheelRoot, 'tensorflow', soname), join(lib, soname));
    await symlink(soname, join(lib, link));
  }
  // node-pre-gyp would look for a node-gyp next to npm: name ringtrain's pinned one instead.
  const env = { ...process.env, npm_config_node_gyp: tools.nodeGyp, PYTHON: tools.python3 };
  const { stdout, stderr } = await run(process.execPath, [tools.nodePreGyp, 'install', '--build-from-source', `--nodedir=${tools.nodedir}`], {
    cwd: pkg, env, timeout: timeoutMs, maxBuffer: 64 << 20,
  });
  return `${stdout}${stderr}`;
}
